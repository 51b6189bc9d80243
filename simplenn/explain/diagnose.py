"""Why a network does not learn: run a few training steps and measure what goes wrong.

`diagnose(config)` trains `config` for a few steps with the real `Trainer` and measures,
before each step and after the last: the loss, the norm of every weight matrix and of
its gradient, how far the step moved each matrix, which ReLUs are dead and whether the
logits overflow or saturate. `find_problems` turns those numbers into findings, each
with its fix; `format_diagnosis` writes the report that `simplenn diagnose` prints.

On the `blog` preset this finds the post's failure: raw 0-255 inputs and a loss summed
over every example give gradients near 1e8, the first step throws the logits far past
what float32 can exponentiate, and soon every hidden ReLU outputs 0 for every image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from simplenn.machine.quiet_tensorflow import tf

from simplenn.config import Config, fit_to_data
from simplenn.training.data import PreparedData, Split, prepare_data
from simplenn.machine.memory import MemoryLimit
from simplenn.training.trainer import Trainer, gradient_function, overflow_causes, use_deterministic_kernels

SAMPLE_SIZE = 1000  # training images whose activations are inspected
LOGIT_OVERFLOW = 88.0  # exp(z) overflows float32 beyond z = 88.7: softmax and sigmoid break down
SATURATED_LOGIT = 15.0  # sigmoid(15) = 1 - 3e-7: the output is certain and its slope ~0
SATURATED_PROBABILITY = 1.0 - 1e-6  # a softmax this sure of one class has stopped learning
HEALTHY_GRADIENT_NORM = 1e3  # gradients beyond this norm mean the scale of the problem is off
HEALTHY_UPDATE_RATIO = 0.1  # a step that moves W by more than 10 % of its size is too big
DEAD_FRACTION = 0.5  # a layer with more dead units than this has lost most of its capacity


@dataclass
class LayerState:
    """One weight layer `W (n_in, n_out)` at one step of the diagnosis."""

    layer: int  # l in W_l
    shape: tuple[int, int]
    weight_norm: float  # ||W_l||, Frobenius
    gradient_norm: float  # ||d objective / d W_l|| on the diagnosis batch
    update_ratio: float | None  # ||W_l after the step - W_l|| / ||W_l||; None after the last step
    dead_fraction: float | None  # hidden layers: units that output 0 for every sample image


@dataclass
class StepState:
    """The network after `step` optimizer steps."""

    step: int
    lr: float  # the learning rate of the next step (schedules change it)
    loss: float  # the data loss on the diagnosis batch, as the config reduces it
    max_abs_logit: float  # largest finite |z| over the sample's logits (0 when none is finite)
    nonfinite_logits: float  # fraction of the sample's logits that are inf or NaN
    overflowing_logits: float  # fraction that are non-finite or beyond ±LOGIT_OVERFLOW
    saturated_outputs: float  # sigmoid: outputs with |z| > 15; softmax: examples with p_max > 1 - 1e-6
    layers: list[LayerState]


@dataclass
class Finding:
    """One problem, with the numbers that show it, and what to change; in Korean as well,
    for `simplenn report --lang ko` (the same numbers, written beside the English)."""

    problem: str
    fix: str
    problem_ko: str
    fix_ko: str

    def text(self, lang: str = "en") -> tuple[str, str]:
        """(problem, fix) in `lang`, "en" or "ko"."""
        return (self.problem_ko, self.fix_ko) if lang == "ko" else (self.problem, self.fix)


@dataclass
class Diagnosis:
    """Everything `simplenn diagnose` reports about one config."""

    config: Config
    n_train: int
    batch_size: int  # rows in one training step, and in the diagnosis batch
    sample_size: int  # rows whose activations and logits are inspected
    input_min: float
    input_max: float
    input_mean: float
    states: list[StepState]  # step 0 (initial weights) to the last step
    findings: list[Finding] = field(default_factory=list)


def _norm(tensor) -> float:
    """The Frobenius norm, in float64 so that the post's enormous weights do not overflow it."""
    return float(tf.norm(tf.cast(tensor, tf.float64)))


def measure(trainer: Trainer, batch: Split, sample: Split) -> StepState:
    """The loss, gradients and activations of the trainer's network as it is now.

    The gradients are those of the config's method (`tape` or `manual`) on `batch`, with
    the dropout masks that the next training step draws, on the images as they are (a
    config that augments would train on moved or mirrored copies); the activations are
    those of `sample` without dropout.
    """
    config, network = trainer.config, trainer.network
    step = trainer.global_step
    loss, _, grads = gradient_function(config.grad)(network, config, batch.X, batch.Y, trainer.step_seed())
    forward = network.forward_pass(sample.X)
    Z = forward.Z[-1].numpy()  # (sample, K) logits
    finite = np.isfinite(Z)
    if config.loss == "sigmoid":
        saturated = float(np.mean(~finite | (np.abs(Z) > SATURATED_LOGIT)))
    else:
        saturated = float(np.mean(np.max(tf.nn.softmax(Z, axis=1).numpy(), axis=1) > SATURATED_PROBABILITY))
    hidden = forward.A[1:]  # (sample, n_l) for each hidden layer
    layers = []
    for l, (W, dW) in enumerate(zip(network.weights, grads[0::2]), start=1):
        dead = float(np.mean(np.all(hidden[l - 1].numpy() == 0, axis=0))) if l <= len(hidden) else None
        layers.append(LayerState(l, tuple(W.shape), _norm(W), _norm(dW), None, dead))
    return StepState(
        step=step,
        lr=trainer.learning_rate(),
        loss=float(loss),
        max_abs_logit=float(np.max(np.abs(Z[finite]), initial=0.0)),
        nonfinite_logits=float(np.mean(~finite)),
        overflowing_logits=float(np.mean(~finite | (np.abs(np.where(finite, Z, 0)) > LOGIT_OVERFLOW))),
        saturated_outputs=saturated,
        layers=layers,
    )


def update_ratio(W_before: np.ndarray, W_after: np.ndarray) -> float:
    """How far an update moved `W`: ||W_after - W_before|| / ||W_before||, Frobenius norms."""
    return _norm(W_after - W_before) / max(_norm(W_before), 1e-30)


def take_one_step(trainer: Trainer, train: Split) -> None:
    """One optimizer step of the real training loop, starting the next epoch when due."""
    if int(trainer.step_in_epoch.numpy()) == trainer.steps_per_epoch:
        trainer.start_next_epoch()
    trainer.run_steps(train, int(trainer.step_in_epoch.numpy()) + 1)


def diagnose(
    config: Config,
    steps: int = 3,
    data: PreparedData | None = None,
    sample_size: int = SAMPLE_SIZE,
    adapt_layers: bool = True,
    memory_limit: MemoryLimit | None = None,
) -> Diagnosis:
    """Train `config` for `steps` steps from its initial weights and measure each state.

    The diagnosis batch is the first `batch_size` training rows (the whole set for the
    post's full batch, where it is exactly the batch each step trains on). `adapt_layers`
    fits the first and last layer sizes to the data, as `train_and_evaluate` does.
    memory_limit: as for `train_and_evaluate` (default: half the available memory).
    """
    data = data or prepare_data(config, memory_limit)
    config = fit_to_data(config, data.n_features, data.n_classes, layers_given=not adapt_layers)
    trainer = Trainer(config, data.train.size, data.image_shape)
    use_deterministic_kernels()
    batch, sample = data.train.first(trainer.batch_size), data.train.first(sample_size)
    X = data.train.X.numpy()
    states = []
    for step in range(steps + 1):
        states.append(measure(trainer, batch, sample))
        if step == steps:
            break
        before = [W.numpy() for W in trainer.network.weights]
        take_one_step(trainer, data.train)
        for layer, W_before, W_after in zip(states[-1].layers, before, trainer.network.weights):
            layer.update_ratio = update_ratio(W_before, W_after.numpy())
    diagnosis = Diagnosis(
        config=config,
        n_train=data.train.size,
        batch_size=trainer.batch_size,
        sample_size=sample.size,
        input_min=float(X.min()),
        input_max=float(X.max()),
        input_mean=float(X.mean()),
        states=states,
    )
    diagnosis.findings = find_problems(diagnosis)
    return diagnosis


def _scale_fixes(config: Config) -> str:
    """What makes every number smaller, most fundamental first, for this config."""
    return ", ".join(fix for _, fix in overflow_causes(config))


def _first(states: list[StepState], condition) -> StepState | None:
    return next((state for state in states if condition(state)), None)


def _per_layer(state: StepState, name: str, lang: str = "en") -> str:
    """One `LayerState` field across the layers: "4.6e+07, 5.4e+07 and 9.6e+07 (W1, W2, W3)"."""
    values = [(l.layer, getattr(l, name)) for l in state.layers if getattr(l, name) is not None]
    if name == "dead_fraction":
        numbers = [f"{100 * v:.0f} %" for _, v in values]
    else:
        numbers = [f"{v:.2g}" for _, v in values]
    last = " 그리고 " if lang == "ko" else " and "
    joined = numbers[0] if len(numbers) == 1 else ", ".join(numbers[:-1]) + last + numbers[-1]
    prefix = ("층" if lang == "ko" else "layer") if name == "dead_fraction" else "W"
    return f"{joined} ({', '.join(f'{prefix} {l}' if prefix != 'W' else f'W{l}' for l, _ in values)})"


def _when(state: StepState, lang: str = "en") -> str:
    if lang == "ko":
        return "처음에" if state.step == 0 else f"{state.step} 스텝 뒤에"
    if state.step == 0:
        return "at the start"
    return f"after {state.step} step{'s' if state.step > 1 else ''}"


def _logits(state: StepState, lang: str = "en") -> str:
    if lang == "ko":
        return (
            f"로짓의 {100 * state.overflowing_logits:.1f} %가 ±{LOGIT_OVERFLOW:g}를 넘거나 유한하지 않습니다"
            f"(유한한 |z|의 최댓값 {state.max_abs_logit:.3g}, inf 또는 NaN {100 * state.nonfinite_logits:.1f} %)"
        )
    return (
        f"{100 * state.overflowing_logits:.1f} % of the logits are beyond ±{LOGIT_OVERFLOW:g} or not finite "
        f"(largest finite |z| {state.max_abs_logit:.3g}, {100 * state.nonfinite_logits:.1f} % inf or NaN)"
    )


def find_problems(diagnosis: Diagnosis) -> list[Finding]:
    """The problems the measurements show, each with its numbers and its fix."""
    config, states, findings = diagnosis.config, diagnosis.states, []
    if max(abs(diagnosis.input_min), abs(diagnosis.input_max)) > 10:
        findings.append(Finding(
            f"inputs are not scaled: X spans {diagnosis.input_min:g} to {diagnosis.input_max:g} "
            f"(mean {diagnosis.input_mean:.3g}), so the first layer's pre-activations and weight "
            "gradients are about 255 times larger than with inputs in 0-1",
            "--scale-inputs (divide pixels by 255)",
            f"입력이 스케일되지 않았습니다: X가 {diagnosis.input_min:g}에서 {diagnosis.input_max:g}에 걸쳐 있어"
            f"(평균 {diagnosis.input_mean:.3g}), 첫 층의 활성화 전 값과 가중치 그래디언트가 0-1 입력일 때보다 "
            "약 255배 큽니다",
            "--scale-inputs (픽셀을 255로 나눔)",
        ))
    n_terms = diagnosis.batch_size * config.layers[-1]
    if config.reduction == "sum" and diagnosis.batch_size > 1:
        findings.append(Finding(
            f"the loss is summed over {diagnosis.batch_size:,} examples x {config.layers[-1]} outputs = "
            f"{n_terms:,} terms ({states[0].loss:.3g} {_when(states[0])}), so its gradient grows with the batch size",
            "--reduction mean (average over the batch)",
            f"손실이 예제 {diagnosis.batch_size:,}개 x 출력 {config.layers[-1]}개 = 항 {n_terms:,}개에 대해 합으로 "
            f"더해져({_when(states[0], 'ko')} {states[0].loss:.3g}), 그래디언트가 배치 크기에 따라 커집니다",
            "--reduction mean (배치에 대해 평균)",
        ))
    nonfinite_loss = _first(states, lambda s: not math.isfinite(s.loss))
    if nonfinite_loss:
        findings.append(Finding(
            f"the loss is {nonfinite_loss.loss} at step {nonfinite_loss.step}", _scale_fixes(config),
            f"스텝 {nonfinite_loss.step}에서 손실이 {nonfinite_loss.loss}입니다", _scale_fixes(config),
        ))
    exploding = _first(states, lambda s: not max(l.gradient_norm for l in s.layers) < HEALTHY_GRADIENT_NORM)
    if exploding:  # `not <` also catches inf and NaN
        largest = max(states, key=lambda s: max(l.gradient_norm for l in s.layers))
        findings.append(Finding(
            f"gradients explode: {_when(exploding)} the weight gradients have norms "
            f"{_per_layer(exploding, 'gradient_norm')}; {_when(largest)}, "
            f"{_per_layer(largest, 'gradient_norm')} (healthy norms are below about {HEALTHY_GRADIENT_NORM:g})",
            _scale_fixes(config) + "; --clip-norm caps what is left",
            f"그래디언트가 폭발합니다: {_when(exploding, 'ko')} 가중치 그래디언트의 노름이 "
            f"{_per_layer(exploding, 'gradient_norm', 'ko')}이고, {_when(largest, 'ko')} "
            f"{_per_layer(largest, 'gradient_norm', 'ko')}입니다(건강한 노름은 약 {HEALTHY_GRADIENT_NORM:g} 아래)",
            _scale_fixes(config) + "; 남는 것은 --clip-norm이 제한합니다",
        ))
    too_big = _first(states, lambda s: any((l.update_ratio or 0) > HEALTHY_UPDATE_RATIO for l in s.layers))
    if too_big:
        findings.append(Finding(
            f"steps are far too big: step {too_big.step + 1} moved the weight matrices by "
            f"{_per_layer(too_big, 'update_ratio')} times their own norms (about 1e-3 is healthy)",
            _scale_fixes(config) + "; --optimizer adam takes steps of about --lr whatever the gradient's size",
            f"스텝이 너무 큽니다: 스텝 {too_big.step + 1}이 가중치 행렬을 그 자신의 노름의 "
            f"{_per_layer(too_big, 'update_ratio', 'ko')}배만큼 움직였습니다(약 1e-3이 건강합니다)",
            _scale_fixes(config) + "; --optimizer adam은 그래디언트 크기와 상관없이 약 --lr 크기의 스텝을 밟습니다",
        ))
    overflow = _first(states, lambda s: s.overflowing_logits > 0)
    if overflow:
        worst = max(states, key=lambda s: (s.overflowing_logits, s.max_abs_logit))
        findings.append(Finding(
            f"logits overflow: {_when(overflow)} {_logits(overflow)}"
            + (f"; {_when(worst)}, {_logits(worst)}" if worst is not overflow else "")
            + f". exp(z) does not fit in float32 beyond |z| = {LOGIT_OVERFLOW:g}: a sigmoid or softmax "
            "written as in the textbook gives inf or NaN, and only the loss's stable formula stays finite",
            _scale_fixes(config),
            f"로짓이 오버플로합니다: {_when(overflow, 'ko')} {_logits(overflow, 'ko')}"
            + (f"; {_when(worst, 'ko')} {_logits(worst, 'ko')}" if worst is not overflow else "")
            + f". |z| = {LOGIT_OVERFLOW:g}를 넘으면 exp(z)는 float32에 들어가지 않습니다: 교과서대로 쓴 시그모이드나 "
            "소프트맥스는 inf나 NaN을 내고, 손실의 안정된 공식만 유한하게 남습니다",
            _scale_fixes(config),
        ))
    saturated = _first(states, lambda s: s.saturated_outputs > 0.5)
    if saturated:
        what = "outputs have |z| > 15" if config.loss == "sigmoid" else "images get a softmax above 1 - 1e-6"
        what_ko = "출력의 |z|가 15보다 큽니다" if config.loss == "sigmoid" else "이미지의 소프트맥스가 1 - 1e-6보다 큽니다"
        findings.append(Finding(
            f"the outputs saturate: {_when(saturated)} {100 * saturated.saturated_outputs:.1f} % of "
            f"the {what}, certain of their answer, right or wrong",
            _scale_fixes(config),
            f"출력이 포화합니다: {_when(saturated, 'ko')} {100 * saturated.saturated_outputs:.1f} %의 {what_ko}. "
            "맞든 틀리든 답을 확신합니다",
            _scale_fixes(config),
        ))
    dying = _first(states, lambda s: any((l.dead_fraction or 0) > DEAD_FRACTION for l in s.layers))
    if dying:
        all_dead = _first(states, lambda s: all(l.dead_fraction == 1 for l in s.layers[:-1]))
        no_gradient = _first(states, lambda s: all(l.gradient_norm == 0 for l in s.layers))
        problem = (
            f"ReLUs die: {_when(dying)} {_per_layer(dying, 'dead_fraction')} of the hidden units "
            f"output 0 for all {diagnosis.sample_size:,} sample images"
        )
        problem_ko = (
            f"ReLU가 죽습니다: {_when(dying, 'ko')} 은닉 유닛의 {_per_layer(dying, 'dead_fraction', 'ko')}가 "
            f"표본 이미지 {diagnosis.sample_size:,}장 모두에 대해 0을 출력합니다"
        )
        if all_dead and all_dead is not dying:
            problem += f"; {_when(all_dead)}, {_per_layer(all_dead, 'dead_fraction')}"
            problem_ko += f"; {_when(all_dead, 'ko')} {_per_layer(all_dead, 'dead_fraction', 'ko')}"
        problem += ". A dead unit passes no gradient back, so it never revives"
        problem_ko += ". 죽은 유닛은 그래디언트를 뒤로 전하지 않으므로 다시 살아나지 않습니다"
        if no_gradient:
            problem += (
                f": from step {no_gradient.step} on no weight matrix gets any gradient (only the output "
                "bias still moves) and every image gets the same answer"
            )
            problem_ko += (
                f": 스텝 {no_gradient.step}부터 어떤 가중치 행렬도 그래디언트를 받지 못하고(출력 편향만 움직입니다) "
                "모든 이미지가 같은 답을 받습니다"
            )
        findings.append(Finding(
            problem,
            "smaller steps so the units are not knocked out (" + _scale_fixes(config) + "); --init he; "
            "--activation leaky_relu keeps a small gradient for negative inputs",
            problem_ko,
            "유닛이 쓰러지지 않도록 더 작은 스텝(" + _scale_fixes(config) + "); --init he; "
            "--activation leaky_relu는 음수 입력에도 작은 그래디언트를 남깁니다",
        ))
    return findings


def _layer_line(layer: LayerState) -> str:
    shape = f"W{layer.layer} ({layer.shape[0]}, {layer.shape[1]})"
    line = f"    {shape:<16} ||W|| {layer.weight_norm:9.3g}   ||dW|| {layer.gradient_norm:9.3g}"
    if layer.update_ratio is not None:
        line += f"   update/weight {layer.update_ratio:9.3g}"
    if layer.dead_fraction is not None:
        line += f"   dead units {100 * layer.dead_fraction:5.1f} %"
    return line


def format_diagnosis(diagnosis: Diagnosis) -> str:
    """The report in plain words: the measurements step by step, then the findings."""
    config = diagnosis.config
    sizes = " → ".join(map(str, config.layers))
    batch = "full batch" if diagnosis.batch_size == diagnosis.n_train else "batches"
    lines = [
        f"Diagnosis of the {config.preset} preset on {config.dataset}: {sizes}, {config.activation}, "
        f"{config.loss} loss ({config.reduction}), {config.optimizer} lr {config.lr:g}, "
        f"{batch} of {diagnosis.batch_size:,} out of {diagnosis.n_train:,} images, {config.grad} gradients",
        f"Inputs: X spans {diagnosis.input_min:g} to {diagnosis.input_max:g}, mean {diagnosis.input_mean:.3g}.",
        f"Loss, gradients: on the first {diagnosis.batch_size:,} training images; activations and logits: "
        f"on the first {diagnosis.sample_size:,}.",
        "",
    ]
    for state in diagnosis.states:
        lines.append(
            f"{_when(state)}: loss {state.loss:.4g} ({config.reduction} over the batch), lr {state.lr:.2g}; "
            f"logits max |z| {state.max_abs_logit:.3g}, {100 * state.overflowing_logits:.1f} % overflowing, "
            f"{100 * state.saturated_outputs:.1f} % saturated"
        )
        lines.extend(_layer_line(layer) for layer in state.layers)
    lines.append("")
    if not diagnosis.findings:
        lines.append(
            "No problems found: inputs in range, gradients and steps of a healthy size, "
            "no overflowing or saturated logits, no dead ReLUs."
        )
    for number, finding in enumerate(diagnosis.findings, start=1):
        lines.append(f"{number}. {finding.problem}.")
        lines.append(f"   fix: {finding.fix}")
    return "\n".join(lines)

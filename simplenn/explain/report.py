"""`simplenn report`: one trained run on one self-contained HTML page.

    html = build_report(load_run(RUN_DIR))            # a string; `write_report` saves it

The page holds what was trained (config, data, parameters), the results (scores per
class, the confusion matrix, the surest mistakes), how the network learned (curves),
what it learned (first-layer weights, activations), the problems `run_checks` finds,
the command that trains the run again, and the machine. Figures are PNGs embedded as
`data:` URIs and the style sheet is inline, so the file opens offline, requests nothing,
and can be sent by mail. `lang="ko"` writes the page in Korean for the post's readers,
the diagnosis included; the figures' own axis labels stay in English (matplotlib would
need a Korean font that not every machine has).
"""

from __future__ import annotations

import base64
import datetime
import html
import platform
import shlex
from pathlib import Path

from simplenn.config import PRESETS, Config, flags_for

LABELS = {
    "en": {
        "title": "simplenn run report", "trained": "What was trained", "results": "Results",
        "learned_how": "How it learned", "learned_what": "What it learned", "diagnosis": "Diagnosis",
        "reproduce": "Reproduce this run", "machine": "Machine", "data": "The data",
        "test_accuracy": "test accuracy", "top3": "top-3 accuracy", "macro_f1": "macro F1",
        "train_accuracy": "training accuracy", "epochs": "epochs", "train_time": "training time",
        "parameters": "parameters", "ece": "calibration error (ECE)",
        "field": "setting", "value": "value", "preset_value": "preset's value",
        "class": "class", "precision": "precision", "recall": "recall", "f1": "F1", "support": "images",
        "true": "true class", "predicted": "predicted as", "count": "images",
        "epoch": "epoch", "loss": "loss", "accuracy": "accuracy", "val_loss": "val. loss",
        "val_accuracy": "val. accuracy", "lr": "learning rate", "seconds": "seconds",
        "no_findings": "No problems found: inputs in range, healthy gradients, no overflowing or saturated "
                       "logits, no dead ReLUs, no gap between training and test accuracy.",
        "fix": "fix", "most_confused": "Most confused pairs", "per_class": "Scores per class",
        "history": "Epoch by epoch", "config_note": "Highlighted: settings that differ from the preset.",
        "python": "or in Python:", "confidence": "mean confidence right / wrong",
        "generated": "generated", "run_dir": "run folder", "checkpoint": "weights from",
        "unfinished": "(not finished)",
        "test_images": "{n} test images", "top2": "top-2", "shape": "{h}x{w} images, {k} classes",
        "params_count": "{n} parameters", "loss_kind": "{loss} loss",
        "fig_confusion": "confusion matrix", "fig_mistakes": "most confident mistakes", "fig_calibration": "calibration",
        "fig_curves": "learning curves", "fig_weights": "first-layer weights", "fig_activations": "hidden activations",
        "fig_samples": "samples per class", "fig_sample": "the post's sample figure",
    },
    "ko": {
        "title": "simplenn 학습 결과 보고서", "trained": "무엇을 학습했나", "results": "결과",
        "learned_how": "어떻게 학습했나", "learned_what": "무엇을 배웠나", "diagnosis": "진단",
        "reproduce": "이 학습을 다시 실행하기", "machine": "실행 환경", "data": "데이터",
        "test_accuracy": "테스트 정확도", "top3": "top-3 정확도", "macro_f1": "macro F1",
        "train_accuracy": "학습 정확도", "epochs": "에폭", "train_time": "학습 시간",
        "parameters": "파라미터 수", "ece": "보정 오차 (ECE)",
        "field": "설정", "value": "값", "preset_value": "프리셋 값",
        "class": "클래스", "precision": "정밀도", "recall": "재현율", "f1": "F1", "support": "이미지 수",
        "true": "정답", "predicted": "예측", "count": "이미지 수",
        "epoch": "에폭", "loss": "손실", "accuracy": "정확도", "val_loss": "검증 손실",
        "val_accuracy": "검증 정확도", "lr": "학습률", "seconds": "초",
        "no_findings": "문제를 찾지 못했습니다: 입력 범위, 기울기 크기, 로짓, 죽은 ReLU, 학습/테스트 정확도 차이 모두 정상입니다.",
        "fix": "해결", "most_confused": "가장 많이 헷갈린 쌍", "per_class": "클래스별 점수",
        "history": "에폭별 기록", "config_note": "강조된 행: 프리셋과 다른 설정.",
        "python": "또는 파이썬에서:", "confidence": "평균 확신도 맞음 / 틀림",
        "generated": "생성 시각", "run_dir": "실행 폴더", "checkpoint": "가중치 출처",
        "unfinished": "(미완료)",
        "test_images": "테스트 이미지 {n}장", "top2": "top-2", "shape": "{h}x{w} 이미지, 클래스 {k}개",
        "params_count": "파라미터 {n}개", "loss_kind": "{loss} 손실",
        "fig_confusion": "혼동 행렬", "fig_mistakes": "가장 확신한 실수", "fig_calibration": "보정",
        "fig_curves": "학습 곡선", "fig_weights": "첫 층의 가중치", "fig_activations": "은닉층 활성값",
        "fig_samples": "클래스별 예시", "fig_sample": "글의 예시 그림",
    },
}

STYLE = """
:root { --ink: #1d2330; --muted: #5b6475; --line: #e3e6ec; --accent: #2457c5; --soft: #f5f7fb; --warn: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans KR", sans-serif;
       color: var(--ink); background: #fff; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 20px 64px; }
header h1 { font-size: 1.7rem; margin: 0 0 4px; }
header p { margin: 0; color: var(--muted); overflow-wrap: anywhere; }
h2 { font-size: 1.3rem; margin: 40px 0 12px; padding-bottom: 6px; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.05rem; margin: 24px 0 8px; color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(112px, 1fr)); gap: 10px; margin-top: 20px; }
.card { background: var(--soft); border-radius: 10px; padding: 10px 12px; }
.card .number { font-size: 1.3rem; font-weight: 650; font-variant-numeric: tabular-nums; white-space: nowrap; }
.card .label { color: var(--muted); font-size: 0.85rem; }
.card.main { background: var(--accent); color: #fff; }
.card.main .label { color: #dfe7fb; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 0.92rem; }
th, td { padding: 5px 12px; text-align: right; border-bottom: 1px solid var(--line); white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
thead th { color: var(--muted); font-weight: 600; border-bottom: 2px solid var(--line); }
table.wrap td { white-space: normal; }
figure.small img { max-width: 320px; }
tr.changed td { background: #fff6d9; font-weight: 600; }
tr.average td { font-weight: 600; background: var(--soft); }
figure { margin: 16px 0; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 8px; }
figcaption { color: var(--muted); font-size: 0.88rem; margin-top: 6px; }
.two { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 8px 28px; align-items: start; }
ol.findings li { margin-bottom: 10px; }
ol.findings .fix { color: var(--muted); }
.ok { background: #e9f6ec; border-radius: 8px; padding: 10px 14px; }
pre { background: #10151f; color: #e8ecf3; padding: 12px 14px; border-radius: 8px; overflow-x: auto;
      font-size: 0.88rem; white-space: pre-wrap; word-break: break-all; }
.note { color: var(--muted); font-size: 0.88rem; }
@media (max-width: 560px) { body { font-size: 15px; } main { padding: 16px 12px 48px; }
  th, td { padding: 4px 8px; } .card .number { font-size: 1.25rem; } }
"""


def figure_data_uri(figure) -> str:
    """A matplotlib figure as a `data:image/png;base64,...` URI; the figure is closed."""
    from simplenn.explain.figures import figure_bytes

    return "data:image/png;base64," + base64.b64encode(figure_bytes(figure)).decode("ascii")


def reproducing_command(config: Config, run_dir: str | Path | None = None) -> str:
    """The `simplenn train` command that trains `config` again.

    Flags are given only where the value differs from the preset's (`config.flags_for`).
    The input and output sizes are left to the data, as `train` fits them, unless the
    hidden layers differ.
    """
    base = PRESETS.get(config.preset, PRESETS["fixed"])
    if config.layers[1:-1] == base.layers[1:-1]:  # only the sizes the data decide differ
        base = base.replace(layers=config.layers)
    words = ["simplenn", "train", "--preset", base.preset, "--dataset", config.dataset,
             *flags_for(config.replace(preset=base.preset, dataset=base.dataset), base)]
    if run_dir is not None:
        words += ["--run-dir", str(run_dir)]
    return " ".join(shlex.quote(w) for w in words)


def machine_facts(run, lang: str = "en") -> list[tuple[str, str]]:
    import numpy
    import sklearn
    from simplenn.machine.quiet_tensorflow import tf

    gpus = tf.config.list_physical_devices("GPU")
    trained_with = (run.summary or {}).get("tensorflow", "?")
    ko = lang == "ko"
    return [
        # no host name: the page is for sending
        ("시스템" if ko else "system", f"{platform.system()} {platform.release()} ({platform.machine()})"),
        ("프로세서" if ko else "processor", platform.processor() or platform.machine()),
        ("CPU 코어" if ko else "CPU cores", str(__import__("os").cpu_count())),
        ("GPU", ", ".join(g.name for g in gpus) or ("없음" if ko else "none")),
        ("Python", platform.python_version()),
        ("TensorFlow", f"{tf.__version__} " + (f"(학습에 쓴 버전 {trained_with})" if ko
                                               else f"(the run was trained with {trained_with})")),
        ("NumPy / scikit-learn", f"{numpy.__version__} / {sklearn.__version__}"),
    ]


def _e(value) -> str:
    return html.escape(str(value))


def _table(head: list[str], rows: list[list], row_classes: list[str] | None = None, id: str = "", css: str = "") -> str:
    """An HTML table; cells are escaped."""
    cells = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = []
    for k, row in enumerate(rows):
        css = f' class="{row_classes[k]}"' if row_classes and row_classes[k] else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>")
    ident = f' id="{id}"' if id else ""
    ident += f' class="{css}"' if css else ""
    return f'<div class="scroll"><table{ident}><thead><tr>{cells}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _figure(uri: str, alt: str, caption: str = "", css: str = "") -> str:
    caption_html = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    css_html = f' class="{css}"' if css else ""
    return f'<figure{css_html}><img src="{uri}" alt="{_e(alt)}">{caption_html}</figure>'


def _percent(value) -> str:
    return "–" if value is None else f"{100 * value:.2f} %"


def build_report(run, evaluation=None, lang: str = "en") -> str:
    """The report of a `LoadedRun` as one HTML document."""
    from simplenn.explain import figures
    from simplenn.explain.run_checks import check_run

    t = LABELS[lang]
    evaluation = evaluation or run.evaluate()
    config, summary, history = run.config, run.summary, run.history
    images = {stem: figure_data_uri(figure) for stem, figure in figures.run_figures(run, evaluation).items()}
    findings = check_run(run, evaluation)
    command = reproducing_command(config)
    base = PRESETS.get(config.preset)

    cards = [
        ("main", t["test_accuracy"], _percent(evaluation.accuracy)),
        ("", t["top3"], _percent(evaluation.top_k_accuracy.get(3))),
        ("", t["macro_f1"], f"{evaluation.averages['macro']['f1']:.4f}"),
        ("", t["train_accuracy"], _percent(summary["train_accuracy"]) if summary else t["unfinished"]),
        ("", t["epochs"], f"{history[-1].epoch if history else 0} / {config.epochs}"),
        ("", t["train_time"], f"{summary['train_seconds']:.1f} s" if summary else "–"),
        ("", t["parameters"], f"{run.network.n_params:,}"),
        ("", t["ece"], _percent(evaluation.expected_calibration_error)),
    ]
    cards_html = "".join(
        f'<div class="card {css}"><div class="number">{_e(number)}</div><div class="label">{_e(label)}</div></div>'
        for css, label, number in cards
    )

    config_rows, config_classes = [], []
    for name, value in config.to_dict().items():
        preset_value = getattr(base, name) if base is not None else None
        if name == "layers":
            preset_value = list(preset_value) if preset_value is not None else None
        changed = base is not None and name not in ("preset", "dataset") and value != preset_value
        config_rows.append([name, value, preset_value if changed else ""])
        config_classes.append("changed" if changed else "")

    per_class_rows = [[r["class"], f"{r['precision']:.4f}", f"{r['recall']:.4f}", f"{r['f1']:.4f}", f"{r['support']:,}"]
                      for r in evaluation.per_class]
    per_class_classes = [""] * len(per_class_rows)
    for average, values in evaluation.averages.items():
        per_class_rows.append([f"{average} avg", f"{values['precision']:.4f}", f"{values['recall']:.4f}",
                               f"{values['f1']:.4f}", f"{evaluation.size:,}"])
        per_class_classes.append("average")
    confused_rows = [[p["true"], p["predicted"], f"{p['count']:,}"] for p in evaluation.most_confused]
    history_rows = [[r.epoch, f"{r.loss:.4f}", _percent(r.accuracy),
                     "–" if r.val_loss is None else f"{r.val_loss:.4f}", _percent(r.val_accuracy),
                     f"{r.lr:.3g}", f"{r.seconds:.2f}"] for r in history]

    if findings:
        diagnosis_html = '<ol class="findings">' + "".join(
            f'<li>{_e(problem)}.<br><span class="fix">{_e(t["fix"])}: {_e(fix)}</span></li>'
            for problem, fix in (finding.text(lang) for finding in findings)
        ) + "</ol>"
    else:
        diagnosis_html = f'<p class="ok">{_e(t["no_findings"])}</p>'
    python_lines = (
        "import json\nfrom simplenn import Config, train_and_evaluate\n"
        f"config = Config.from_dict(json.load(open({str(run.run_dir / 'config.json')!r})))\n"
        "train_and_evaluate(config, run_dir=\"runs/again\")"
    )
    sizes = " → ".join(map(str, config.layers))
    right, wrong = evaluation.mean_confidence_right, evaluation.mean_confidence_wrong
    h, w = run.image_shape
    generated = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")

    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>{_e(t["title"])}: {_e(config.preset)} · {_e(config.dataset)}</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<header>
<h1>{_e(config.preset)} · {_e(config.dataset)} — {_e(t["title"])}</h1>
<p>{_e(sizes)}, {_e(config.activation)}, {_e(t["loss_kind"].format(loss=config.loss))}, {_e(config.optimizer)} lr {config.lr:g} ·
{_e(t["run_dir"])} <code>{_e(run.run_dir)}</code> · {_e(t["checkpoint"])} {_e(run.checkpoint.name)}</p>
</header>
<section class="cards" id="scores">{cards_html}</section>

<h2 id="diagnosis">{_e(t["diagnosis"])}</h2>
{diagnosis_html}

<h2>{_e(t["results"])}</h2>
<p>{_e(evaluation.dataset)}: {_e(t["test_images"].format(n=f"{evaluation.size:,}"))}. {_e(t["top3"])} {_percent(evaluation.top_k_accuracy.get(3))},
{_e(t["top2"])} {_percent(evaluation.top_k_accuracy.get(2))}; {_e(t["confidence"])}: {_percent(right)} / {_percent(wrong)}.</p>
<div class="two">
<div><h3>{_e(t["per_class"])}</h3>
{_table([t["class"], t["precision"], t["recall"], t["f1"], t["support"]], per_class_rows, per_class_classes, "per-class")}</div>
<div><h3>{_e(t["most_confused"])}</h3>
{_table([t["true"], t["predicted"], t["count"]], confused_rows, id="most-confused")}</div>
</div>
{_figure(images["confusion_matrix"], t["fig_confusion"])}
{_figure(images["mistakes"], t["fig_mistakes"])}
{_figure(images["calibration"], t["fig_calibration"])}

<h2>{_e(t["learned_how"])}</h2>
{_figure(images["learning_curves"], t["fig_curves"])}
<h3>{_e(t["history"])}</h3>
{_table([t["epoch"], t["loss"], t["accuracy"], t["val_loss"], t["val_accuracy"], t["lr"], t["seconds"]], history_rows, id="history")}

<h2>{_e(t["learned_what"])}</h2>
{_figure(images["first_layer_weights"], t["fig_weights"])}
{_figure(images["activations"], t["fig_activations"])}

<h2>{_e(t["trained"])}</h2>
<p>{_e(config.dataset)}: {_e(t["shape"].format(h=h, w=w, k=len(evaluation.class_names)))}; {_e(t["params_count"].format(n=f"{run.network.n_params:,}"))}.</p>
{_table([t["field"], t["value"], t["preset_value"]], config_rows, config_classes, "config")}
<p class="note">{_e(t["config_note"])}</p>

<h2>{_e(t["data"])}</h2>
<div class="two">{_figure(images["samples"], t["fig_samples"])}{_figure(images["sample"], t["fig_sample"], "", "small")}</div>

<h2 id="reproduce">{_e(t["reproduce"])}</h2>
<pre>{_e(command)}</pre>
<p>{_e(t["python"])}</p>
<pre>{_e(python_lines)}</pre>

<h2>{_e(t["machine"])}</h2>
{_table(["", ""], [list(row) for row in machine_facts(run, lang)] + [[t["generated"], generated]], id="machine", css="wrap")}
</main>
</body>
</html>
"""


def write_report(run, out: str | Path | None = None, lang: str = "en", evaluation=None) -> Path:
    """Write the report to `out` (default RUN_DIR/report.html); the path written."""
    from simplenn.machine.file_safety import write_text

    return write_text(out or run.run_dir / "report.html", build_report(run, evaluation, lang))

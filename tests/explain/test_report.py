"""The report's parts that need no browser: the reproducing command and the findings."""

import re
from html import escape

import pytest

import simplenn
from simplenn.cli.flags import config_from_args
from simplenn.cli.program import build_parser
from simplenn.config import fit_to_data, preset
from simplenn.explain.report import reproducing_command
from simplenn.explain.run_checks import check_run


@pytest.mark.parametrize("config", [
    preset("fixed").replace(dataset="digits", layers=(64, 100, 30, 10), epochs=3),
    preset("blog").replace(dataset="digits", layers=(64, 20, 10), scale_inputs=True, lr=0.001, flip_images=True,
                           shift_pixels=1, batch_size=32, validation_split=0.1, patience=2),
    preset("best").replace(dataset="fashion-mnist", dropout=0.1, jit_compile=False, label_smoothing=0.0),
    preset("blog").replace(dataset="digits", layers=(64, 100, 30, 10), init_stddev=0.05, jit_compile=True,
                           schedule="step", step_every_epochs=2, step_gamma=0.5, stop_on_nan=True, seed=3),
])
def test_the_reproducing_command_gives_back_the_same_config(config):
    command = reproducing_command(config)
    argv = command.split()[1:]  # drop "simplenn"
    args = build_parser().parse_args(argv)
    rebuilt = config_from_args(args)
    n_features, n_classes = config.layers[0], config.layers[-1]
    assert fit_to_data(rebuilt, n_features, n_classes, layers_given=args.layers is not None) == config


def test_every_field_has_a_flag_in_the_command():
    command = reproducing_command(preset("fixed").replace(init_stddev=0.2, step_gamma=0.5, stop_on_nan=False))
    assert command.endswith("--init-stddev 0.2 --step-gamma 0.5 --no-stop-on-nan")
    assert reproducing_command(preset("blog").replace(jit_compile=True)).endswith(" --xla")


def test_the_posts_run_is_diagnosed_with_diagnoses_checks(tmp_path):
    from simplenn.cli import main

    assert main(["train", "--preset", "blog", "--dataset", "digits", "--epochs", "2", "--run-dir", str(tmp_path),
                 "--quiet"]) == 0
    run = simplenn.load_run(tmp_path)
    problems = "\n".join(f.problem for f in check_run(run, run.evaluate()))
    for words in ("inputs are not scaled", "ReLUs die", "the network is at chance"):
        assert words in problems


def test_the_korean_report_gives_the_diagnosis_in_korean(tmp_path):
    from simplenn.cli import main
    from simplenn.explain.report import build_report

    assert main(["train", "--preset", "blog", "--dataset", "digits", "--epochs", "2", "--run-dir", str(tmp_path),
                 "--quiet"]) == 0
    run = simplenn.load_run(tmp_path)
    evaluation = run.evaluate()
    findings = check_run(run, evaluation)
    html = build_report(run, evaluation, lang="ko")
    hangul = re.compile("[\uac00-\ud7a3]")
    for finding in findings:
        problem, fix = finding.text("ko")
        assert hangul.search(problem), problem
        assert escape(problem) in html and escape(finding.problem) not in html
    # the same numbers in both languages
    english, korean = (" ".join(f.text(lang)[0] for f in findings) for lang in ("en", "ko"))
    assert re.findall(r"\d+(?:\.\d+)?", english) and \
        sorted(re.findall(r"\d+(?:\.\d+)?", english)) == sorted(re.findall(r"\d+(?:\.\d+)?", korean))
    assert "test images" not in html and "테스트 이미지" in html

"""`simplenn diagnose`: the post's failure is found and measured, the fixed network is clean."""

import pytest

from shared_runs import needs_fashion_mnist
from simplenn.cli import main
from simplenn.config import preset
from simplenn.explain.diagnose import diagnose, format_diagnosis
from simplenn.runs.run_directory import RunDirectory


def problems(diagnosis) -> str:
    return "\n".join(finding.problem for finding in diagnosis.findings)


@pytest.fixture(scope="module")
def blog_on_digits():
    return diagnose(preset("blog").replace(dataset="digits"), steps=3)


def test_blog_on_digits_reports_exploding_gradients_overflow_and_dead_relus(blog_on_digits):
    d = blog_on_digits
    assert (d.input_min, d.input_max) == (0, 255)
    assert [s.step for s in d.states] == [0, 1, 2, 3]
    assert min(layer.gradient_norm for layer in d.states[0].layers) > 1e5
    assert d.states[1].overflowing_logits == 1.0  # every logit beyond ±88 after one step
    assert all(layer.dead_fraction == 1.0 for layer in d.states[3].layers[:-1])
    assert all(layer.gradient_norm == 0 for layer in d.states[3].layers)
    found = problems(d)
    for words in ("inputs are not scaled", "summed over 1,347 examples", "gradients explode",
                  "steps are far too big", "logits overflow", "ReLUs die", "no weight matrix gets any gradient"):
        assert words in found
    fixes = " ".join(finding.fix for finding in d.findings)
    assert "--scale-inputs" in fixes and "--reduction mean" in fixes


def test_fixed_on_digits_reports_no_problem():
    d = diagnose(preset("fixed").replace(dataset="digits"), steps=2)
    assert d.findings == []
    assert all(s.overflowing_logits == 0 and s.saturated_outputs == 0 for s in d.states)
    assert all((layer.dead_fraction or 0) < 0.1 for s in d.states for layer in s.layers)
    assert all(layer.gradient_norm < 10 and layer.update_ratio < 0.05 for layer in d.states[0].layers)
    assert "No problems found" in format_diagnosis(d)


def test_the_report_states_the_numbers(blog_on_digits):
    report = format_diagnosis(blog_on_digits)
    assert "Inputs: X spans 0 to 255" in report
    assert "after 3 steps: loss" in report
    assert "W1 (64, 100)" in report and "dead units 100.0 %" in report


@pytest.mark.slow  # Fashion-MNIST in one batch
@needs_fashion_mnist
def test_blog_on_fashion_mnist_fails_as_the_seed_readme_says():
    # 60,000 images in one full batch: gradient norms near 1e8, logits overflowing after
    # the first step, and every ReLU of both hidden layers dead after the second.
    d = diagnose(preset("blog").replace(dataset="fashion-mnist"), steps=2)
    assert all(1e7 < layer.gradient_norm < 1e9 for layer in d.states[0].layers)
    assert d.states[1].overflowing_logits == 1.0
    assert [layer.dead_fraction for layer in d.states[2].layers[:-1]] == [1.0, 1.0]
    assert "ReLUs die" in problems(d) and "logits overflow" in problems(d)


def test_cli_diagnoses_a_preset_with_flags_on_top(capsys):
    assert main(["diagnose", "--preset", "blog", "--dataset", "digits", "--steps", "1"]) == 0
    report = capsys.readouterr().out
    assert "Diagnosis of the blog preset on digits" in report and "logits overflow" in report
    assert main(["diagnose", "--preset", "blog", "--dataset", "digits", "--steps", "1",
                 "--scale-inputs", "--reduction", "mean"]) == 0
    report = capsys.readouterr().out
    assert "inputs are not scaled" not in report and "summed over" not in report


def test_cli_diagnoses_the_config_of_a_run_directory(tmp_path, capsys):
    run = RunDirectory(tmp_path / "run").create()
    run.write_config(preset("fixed").replace(dataset="digits", layers=(64, 100, 30, 10)))
    assert main(["diagnose", "--run-dir", str(run.path), "--steps", "1"]) == 0
    report = capsys.readouterr().out
    assert "Diagnosis of the fixed preset on digits" in report and "No problems found" in report


def test_cli_reports_a_missing_run_directory_in_one_line(tmp_path, capsys):
    assert main(["diagnose", "--run-dir", str(tmp_path / "nowhere")]) == 2
    missing = tmp_path / "nowhere" / "config.json"
    assert capsys.readouterr().err.strip() == f"simplenn: error: {missing} does not exist"

"""`simplenn ablate`: one measured row per change, from the blog preset to the fixed one."""

import json

import pytest

from simplenn.explain.ablate import STEPS, ablation_configs
from simplenn.cli import main
from simplenn.config import Config, preset
from simplenn.runs.experiment import train_and_evaluate
from cli_messages import error_message

# Fields that say how a run is carried out or labelled, not what it computes.
BOOKKEEPING = {"preset", "dataset", "epochs", "seed", "jit_compile", "stop_on_nan"}


def differing_fields(a: Config, b: Config) -> set[str]:
    return {name for name, value in a.to_dict().items() if value != b.to_dict()[name]} - BOOKKEEPING


def test_each_step_changes_only_its_own_fields_and_the_last_is_the_fixed_preset():
    steps = ablation_configs("digits", epochs=2, seed=3)
    assert [(change, fields) for change, fields, _ in steps] == list(STEPS)
    configs = [config for _, _, config in steps]
    assert differing_fields(configs[0], preset("blog")) == set()
    for previous, config, (_, fields) in zip(configs, configs[1:], STEPS[1:]):
        assert differing_fields(config, previous) == set(fields)
    assert differing_fields(configs[-1], preset("fixed")) == set()
    # jit_compile None: each run uses XLA when its arithmetic pays back compiling (none does on digits)
    assert {(c.dataset, c.epochs, c.seed, c.jit_compile) for c in configs} == {("digits", 2, 3, None)}


@pytest.mark.slow  # a run for each step
def test_cli_ablate_measures_one_row_per_change(tmp_path, capsys):
    chart, rows_file = tmp_path / "ablation.png", tmp_path / "rows.json"
    # Without XLA, whose compilation takes longer than 15 epochs of 1,347 digits.
    status = main(["ablate", "--dataset", "digits", "--epochs", "15", "--no-xla",
                   "--out", str(chart), "--json", str(rows_file)])
    assert status == 0
    out = capsys.readouterr().out
    assert chart.stat().st_size > 0
    rows = json.loads(rows_file.read_text())
    assert [row["change"] for row in rows] == [change for change, _ in STEPS]
    for row in rows:
        assert f"{row['change']}" in out and f"{100 * row['test_accuracy']:.2f} %" in out
        assert 0 <= row["test_accuracy"] <= 1 and row["train_seconds"] > 0
    # The post stays at chance; the fixed network learns.
    assert rows[0]["test_accuracy"] < 0.2 < 0.8 < rows[-1]["test_accuracy"]
    # Measured, not written down: training the last row's config again gives its accuracy.
    again = train_and_evaluate(Config.from_dict(rows[-1]["config"]), live_progress=False, log=lambda line: None)
    assert again["test_accuracy"] == rows[-1]["test_accuracy"]


def test_cli_ablate_refuses_an_unwritable_json_file_before_training(tmp_path, capsys, monkeypatch):
    import simplenn.explain.ablate as ablate_module

    def must_not_train(*args, **kwargs):
        raise AssertionError("ablate trained before checking where it writes")

    monkeypatch.setattr(ablate_module, "train_and_evaluate", must_not_train)
    blocker = tmp_path / "file"
    blocker.write_text("")
    status = main(["ablate", "--dataset", "digits", "--json", str(blocker / "rows.json"),
                   "--out", str(tmp_path / "a.png")])
    assert status == 2
    assert capsys.readouterr().err.startswith(
        f"simplenn: error: argument --json: cannot write {blocker / 'rows.json'}: {blocker} is not a writable folder"
    )


def test_ablate_and_show_without_out_write_nothing_into_the_current_folder(tmp_path, capsys, monkeypatch):
    """Without a display (Agg, as here) and without --out, no figure lands in the current folder."""
    import simplenn.explain.ablate as ablate_module
    from simplenn.explain.ablate import AblationRow

    rows = [AblationRow(change, fields, preset("fixed"), 0.1 * (i + 1), 0.1 * (i + 1), 1.0)
            for i, (change, fields) in enumerate(STEPS)]
    monkeypatch.setattr(ablate_module, "ablate", lambda *args, **kwargs: rows)
    monkeypatch.chdir(tmp_path)
    assert main(["ablate", "--dataset", "digits"]) == 0
    out = capsys.readouterr().out
    assert STEPS[-1][0] in out and out.rstrip().endswith(
        "no chart drawn: there is no display to show it on; --out FILE.png writes it")
    assert main(["show", "--dataset", "digits", "--index", "3"]) == 2
    assert error_message(capsys.readouterr().err) == (
        "there is no display to show the image on; name a file for it, e.g. --out sample-3.png")
    assert list(tmp_path.iterdir()) == []

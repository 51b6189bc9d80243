"""`simplenn lab`'s API: Starlette's TestClient against the real app, training real runs on digits.

The runs train in the lab's own process (`lab_run`), as they do behind the page; each
test reads the events the page would draw and checks them against the engine itself.
"""

import json
import re
import time

import numpy as np
import pytest
from starlette.testclient import TestClient

from simplenn.explain.ablate import STEPS
from simplenn.config import Config, ConfigError, preset
from simplenn.runs.experiment import train_and_evaluate
from simplenn.serving.lab import EXPLANATIONS, EventLog, Lab, create_app, lab_config, setup
from simplenn.runs.loaded_run import load_run

BASE = "http://127.0.0.1:8000"
ENDS = ("diagnosis", "stopped", "failed")


def read_events(client, since=None):
    """The events so far after `since`: [(id, event)]."""
    url = "/api/events?follow=0" + (f"&since={since}" if since else "")
    events = []
    for block in client.get(url).text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "data" in fields:
            events.append((fields["id"], json.loads(fields["data"])))
    return events


def events_until(client, condition, timeout=240.0):
    """Every event of the current run until one satisfies `condition` (and then the process is idle)."""
    seen, since, deadline = [], None, time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event_id, event in read_events(client, since):
            seen.append(event)
            since = event_id
            if condition(event):
                return seen
        time.sleep(0.1)
    raise AssertionError(f"no such event within {timeout} s; last: {[e['type'] for e in seen[-5:]]}")


def wait_idle(client, timeout=60.0):
    deadline = time.monotonic() + timeout
    while client.get("/api/state").json()["training"]:
        assert time.monotonic() < deadline, "the run's process did not end"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("lab-runs")
    with TestClient(create_app(Lab(runs_dir)), base_url=BASE) as client:
        client.runs_dir = runs_dir
        yield client


# --- the controls ---------------------------------------------------------------------------


def test_every_ablation_step_is_a_switch_explained_in_english_and_korean():
    answer = setup()
    assert [s["change"] for s in answer["switches"]] == [change for change, _ in STEPS[1:]]
    for switch in answer["switches"]:
        assert switch["fields"] == list(dict(STEPS)[switch["change"]])
        assert switch["post"] != switch["fix"]
        assert len(switch["explain"]["en"]) > 40 and len(switch["explain"]["ko"]) > 20
        assert any("\uac00" <= ch <= "\ud7a3" for ch in switch["explain"]["ko"])  # Hangul
    assert set(EXPLANATIONS) == {fields[0] for _, fields in STEPS[1:]}
    assert "digits" in answer["datasets"]


def test_the_page_presets_are_the_cli_presets():
    answer = setup()
    for name in ("blog", "fixed"):
        config = lab_config(answer["presets"][name])
        assert config == preset(name), name
    one_switch = dict(answer["presets"]["blog"], scale_inputs=True)
    assert lab_config(one_switch) == preset("blog").replace(preset="lab", scale_inputs=True)
    assert lab_config(dict(answer["presets"]["fixed"], dataset="fashion-mnist")).preset == "fixed"


def test_a_bad_config_gets_configs_own_one_line_error(lab):
    with pytest.raises(ConfigError) as expected:
        Config(lr=-1.0)
    answer = lab.post("/api/train", json={"config": {"lr": -1}})
    assert answer.status_code == 400
    assert answer.json() == {"error": str(expected.value)}
    assert lab.post("/api/train", json={"config": {"layers": "100;30"}}).json()["error"].startswith("layers must be")
    assert lab.post("/api/train", json={"config": {"colour": "red"}}).json() == {
        "error": "unknown config field(s) colour"}
    missing = lab.post("/api/train", json={"config": {"dataset": "no-such-data"}})
    assert missing.status_code == 400 and "expected a dataset name" in missing.json()["error"]
    assert lab.post("/api/train", content=b"{not json").json() == {"error": "the body is not JSON; send a JSON object"}
    assert not lab.get("/api/state").json()["training"]


def test_only_this_servers_names_are_answered(lab):
    assert lab.get("/api/state", headers={"host": "localhost:8000"}).status_code == 200
    assert lab.get("/api/state", headers={"host": "[::1]:8000"}).status_code == 200
    refused = lab.get("/api/state", headers={"host": "attacker.example:8000"})
    assert refused.status_code == 421
    assert refused.json()["error"] == ("Host 'attacker.example:8000' is not served here; "
                                       "open the lab as http://127.0.0.1:PORT/ or http://localhost:PORT/")


def test_runs_and_reports_are_found_only_in_the_runs_folder(lab):
    for name in ("..", "../..", "%2e%2e", "x/../..", "no-such-run"):
        answer = lab.get(f"/runs/{name}/report.html")
        assert answer.status_code == 404, name
        assert "error" in answer.json()
    assert lab.post("/api/resume", json={"run": "../etc"}).status_code == 404
    assert lab.post("/api/stop").status_code == 409


def test_event_ids_start_a_client_of_another_server_or_run_at_the_current_runs_start():
    log = EventLog()
    log.start_run({"type": "queued"})
    log.append({"type": "progress"})
    new, position = log.read(log.position_after(None))
    assert [e["type"] for _, e in new] == ["queued", "progress"]
    assert log.read(log.position_after(new[0][0]))[0] == new[1:]
    assert log.position_after("feedbeef.1.7") == (1, 0)  # an earlier server's id
    log.start_run({"type": "queued"})
    assert log.read(position)[0][0][0] == f"{log.token}.2.0"  # a stream that was open goes on with the new run


# --- runs ---------------------------------------------------------------------------------


@pytest.mark.slow  # the lab trains runs in their own processes
def test_the_posts_run_ends_at_chance_with_every_relu_dead_and_is_the_engines_run(lab):
    config = setup()["presets"]["blog"]
    answer = lab.post("/api/train", json={"config": config})
    assert answer.status_code == 202
    second = lab.post("/api/train", json={"config": config})
    assert second.status_code == 409
    assert second.json()["error"].startswith(f"a run is training ({answer.json()['run']}); one training at a time")
    events = events_until(lab, lambda e: e["type"] in ENDS)
    progress = [e for e in events if e["type"] == "progress"]
    assert len(progress) >= preset("blog").epochs  # at least once an epoch
    first, last = progress[0], progress[-1]
    assert first["layers"][0]["gradient_norm"] > 1e6  # exploding, as `diagnose` finds
    assert first["layers"][0]["update_ratio"] > 1  # the first step moved W1 by more than its size
    assert first["overflowing_logits"] > 0.5
    assert [layer["dead_fraction"] for layer in last["layers"]] == [1.0, 1.0, None]
    finished = next(e for e in events if e["type"] == "finished")
    assert 0.05 < finished["test_accuracy"] < 0.15
    diagnosis = events[-1]
    assert diagnosis["type"] == "diagnosis"
    assert any(f["problem"]["en"].startswith("ReLUs die") for f in diagnosis["findings"])
    assert any(f["problem"]["en"].startswith("the network is at chance") for f in diagnosis["findings"])
    for finding in diagnosis["findings"]:  # the same findings in Korean, as `report --lang ko` writes them
        assert all(re.search("[\uac00-\ud7a3]", finding[part]["ko"]) for part in ("problem", "fix"))
    wait_idle(lab)
    run_dir = lab.runs_dir / answer.json()["run"]
    direct = train_and_evaluate(preset("blog"), log=lambda line: None)
    assert load_run(run_dir).summary["weights_sha256"] == finished["weights_sha256"] == direct["weights_sha256"]
    [listed] = [r for r in lab.get("/api/runs").json()["runs"] if r["name"] == run_dir.name]
    assert listed["finished"] and listed["preset"] == "blog" and len(listed["history"]) == 5


@pytest.mark.slow  # a lab run
def test_a_diverging_run_says_why_and_the_lab_goes_on(lab):
    config = dict(setup()["presets"]["blog"], layers=[], lr=1e33, stop_on_nan=True)
    assert lab.post("/api/train", json={"config": config}).status_code == 202
    events = events_until(lab, lambda e: e["type"] in ENDS)
    assert events[-1]["type"] == "failed"
    # The full batch's first step throws the weights out; the second epoch's loss is not finite.
    assert events[-1]["error"].startswith("loss became NaN or infinite in epoch 2; likely causes: raw 0-255 inputs")
    wait_idle(lab)
    assert lab.get("/api/state").json()["training"] is False


@pytest.mark.slow  # lab runs
def test_stop_keeps_a_checkpoint_and_resume_ends_with_the_uninterrupted_weights(lab):
    config = dict(setup()["presets"]["fixed"], epochs=150, jit_compile=False)
    answer = lab.post("/api/train", json={"config": config})
    name = answer.json()["run"]
    assert name.startswith("lab-digits-")
    events_until(lab, lambda e: e["type"] == "epoch" and e["epoch"] >= 2)
    assert lab.post("/api/stop").status_code == 202
    stopped = events_until(lab, lambda e: e["type"] in ENDS)[-1]
    assert stopped["type"] == "stopped", stopped
    assert "resume with: simplenn train --resume" in stopped["message"]
    wait_idle(lab)
    [listed] = [r for r in lab.get("/api/runs").json()["runs"] if r["name"] == name]
    assert not listed["finished"] and 2 <= len(listed["history"]) < 150
    assert lab.post("/api/resume", json={"run": name}).status_code == 202
    events = events_until(lab, lambda e: e["type"] in ENDS)
    started = next(e for e in events if e["type"] == "started")
    assert len(started["history"]) == len(listed["history"])  # the page redraws the epochs before the stop
    finished = next(e for e in events if e["type"] == "finished")
    assert finished["test_accuracy"] > 0.9
    wait_idle(lab)
    direct = train_and_evaluate(lab_config(config), log=lambda line: None)
    assert finished["weights_sha256"] == direct["weights_sha256"]
    assert lab.post("/api/resume", json={"run": name}).json() == {"error": f"{name} finished already; start a new run instead"}


@pytest.mark.slow  # reads the lab runs above
def test_a_finished_run_has_its_report(lab):
    name = next(r["name"] for r in lab.get("/api/runs").json()["runs"] if r["finished"])
    report = lab.get(f"/runs/{name}/report.html?lang=ko")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert '<html lang="ko">' in report.text
    assert (lab.runs_dir / name / "report.ko.html").is_file()


@pytest.mark.slow  # reads the lab runs above
def test_a_restarted_lab_lists_the_runs_it_finds(lab):
    with TestClient(create_app(Lab(lab.runs_dir)), base_url=BASE) as again:
        names = {r["name"] for r in again.get("/api/runs").json()["runs"]}
        assert names == {r["name"] for r in lab.get("/api/runs").json()["runs"]} and names
        assert read_events(again, since="feedbeef.3.9") == []  # nothing trained yet on this server


@pytest.mark.slow  # a lab run's process
def test_the_memory_a_run_needs_is_checked_before_it_starts(tmp_path):
    with TestClient(create_app(Lab(tmp_path / "runs", max_memory="64K")), base_url=BASE) as client:
        refused = client.post("/api/train", json={"config": setup()["presets"]["fixed"]})
        assert refused.status_code == 400  # the network alone is over the limit: refused before a process starts
        assert "more than the limit of 64.0 KiB (--max-memory 64K)" in refused.json()["error"]
        assert not client.get("/api/state").json()["training"]
        assert client.get("/api/runs").json() == {"runs": []}  # nothing was written


def test_the_users_own_data_offered_with_dataset_trains_as_a_normal_run(tmp_path):
    """`simplenn lab --dataset PATH`: the page offers the path, a run on it records it as `train` does;
    any other path is still refused."""
    from simplenn.datasets import load_dataset

    (x_train, y_train), _ = load_dataset("digits")
    data = tmp_path / "train.csv"
    rows = np.column_stack([y_train, x_train.reshape(len(x_train), -1)])
    np.savetxt(data, rows, fmt="%d", delimiter=",", header="label," + ",".join(f"p{i}" for i in range(64)), comments="")
    lab = Lab(tmp_path / "runs", datasets=(str(data),))
    with TestClient(create_app(lab), base_url=BASE) as client:
        offered = client.get("/api/setup").json()["datasets"]
        assert offered[0] == "digits" and offered[-1] == str(data)
        other = client.post("/api/train", json={"config": dict(setup()["presets"]["fixed"], dataset=str(tmp_path))})
        assert other.status_code == 400
        assert other.json()["error"].endswith("; offer your own data with `simplenn lab --dataset PATH`")
        config = dict(setup()["presets"]["fixed"], dataset=str(data), epochs=2)
        answer = client.post("/api/train", json={"config": config})
        assert answer.status_code == 202, answer.text
        events = events_until(client, lambda e: e["type"] in ENDS)
        assert events[-1]["type"] == "diagnosis", events[-3:]
        wait_idle(client)
    run = load_run(tmp_path / "runs" / answer.json()["run"])
    assert run.contract.source["path"] == str(data)  # recorded as `simplenn train --dataset` records it
    assert run.evaluate().accuracy > 0.2  # two epochs: well above chance (0.1), the same run `train` makes


def test_lab_dataset_flag_refuses_what_train_would_refuse(tmp_path, capsys):
    from simplenn.cli import main

    assert main(["lab", "--dataset", str(tmp_path / "missing.csv"), "--port", "1"]) == 2
    assert "missing.csv" in capsys.readouterr().err

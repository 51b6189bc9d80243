"""Downloading, caching and `simplenn data`, against a server on 127.0.0.1.

Each test serves files it made; catalogue entries are replaced to point at the server.
No test touches the internet.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from cli_messages import error_message
from mnist_format import idx_files, idx_spec, npz_bytes, npz_spec, sha256, tiny_splits, write_files
from simplenn.cli import main
from simplenn.datasets import (
    DatasetError,
    DownloadError,
    DownloadOptions,
    fetch,
    import_files,
    list_datasets,
    load_dataset,
    verify,
)
from simplenn.datasets import cache, catalogue
from simplenn.datasets.catalogue import DataFile
from simplenn.datasets.download import download_file
from simplenn.errors import SimplennWarning, error_text

REPO = Path(__file__).resolve().parents[2]
# One try, no pause; the server on this machine answers at once, so the time-out only ends a stuck test.
QUICK = DownloadOptions(timeout_s=30.0, attempts=1, backoff_s=0.0)
PAYLOAD = bytes(range(256)) * 64  # 16 KiB


class Server:
    """A local HTTP server whose routes each misbehave in one chosen way.

    `routes` maps a path to (behaviour, content); behaviours: "ok", "cut" (declare the full
    length, send half, close), "drop" (send half, then reset the connection), "stall" (send
    half, then go quiet), "slow-once" (trickle the first request, serve later ones at once),
    "fail-once" (HTTP 500, then "ok"). Unknown paths get 404. `hits` counts requests per path.
    """

    def __init__(self, tls_cert: Path | None = None):
        self.routes: dict[str, tuple[str, bytes]] = {}
        self.hits: dict[str, int] = {}
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                behaviour, content = server.routes.get(self.path, ("missing", b""))
                if behaviour == "fail-once" and server.hits[self.path] == 1:
                    behaviour = "error"
                if behaviour == "slow-once" and server.hits[self.path] > 1:
                    behaviour = "ok"
                if behaviour in ("missing", "error"):
                    self.send_error(404 if behaviour == "missing" else 500)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                half = len(content) // 2
                if behaviour == "slow-once":
                    for start in range(0, len(content), 1024):
                        self.wfile.write(content[start : start + 1024])
                        self.wfile.flush()
                        if server.release.wait(0.02):
                            return
                    return
                self.wfile.write(content if behaviour in ("ok", "fail-once") else content[:half])
                self.wfile.flush()
                if behaviour == "drop":
                    # SO_LINGER 0: close with a TCP reset, as a crashed proxy would.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                elif behaviour == "stall":
                    server.release.wait(30)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        if tls_cert:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls_cert)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.url = self.url.replace("http:", "https:")
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def no_proxy(monkeypatch):
    for variable in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv("SIMPLENN_CA_BUNDLE", raising=False)


@pytest.fixture
def server(no_proxy):
    running = Server()
    yield running
    running.close()


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory) -> Path:
    """A PEM file holding a self-signed certificate for 127.0.0.1 and its key."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed; it makes the test certificate")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", folder / "key.pem", "-out", folder / "cert.pem"],
        check=True, capture_output=True,
    )
    (folder / "both.pem").write_bytes((folder / "cert.pem").read_bytes() + (folder / "key.pem").read_bytes())
    return folder / "both.pem"


@pytest.fixture
def tls_server(no_proxy, self_signed):
    running = Server(tls_cert=self_signed)
    yield running
    running.close()


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """An empty cache and no system copies."""
    monkeypatch.setenv("SIMPLENN_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "SYSTEM_DATA_DIR", tmp_path / "system")
    return tmp_path / "cache"


def one_file(server: Server, *paths: str, content: bytes = PAYLOAD) -> DataFile:
    return DataFile(cache_path="f.bin", urls=tuple(server.url + p for p in paths), size=len(content), sha256=sha256(content))


# download_file


def test_download_succeeds_and_leaves_only_the_final_file(server, tmp_path):
    server.routes["/f"] = ("ok", PAYLOAD)
    seen = []
    dest = download_file(one_file(server, "/f"), tmp_path / "f.bin", options=QUICK, progress=lambda *a: seen.append(a))
    assert dest.read_bytes() == PAYLOAD
    assert os.listdir(tmp_path) == ["f.bin"]
    assert seen[-1] == ("f.bin", len(PAYLOAD), len(PAYLOAD))


def test_hash_mismatch_names_the_file_and_both_hashes(server, tmp_path):
    server.routes["/f"] = ("ok", PAYLOAD[::-1])
    with pytest.raises(DownloadError) as error:
        download_file(one_file(server, "/f"), tmp_path / "f.bin", options=QUICK)
    message = str(error.value)
    assert message.startswith(f"could not download f.bin: {server.url}/f: ")
    assert f"sha256 is {sha256(PAYLOAD[::-1])}; expected sha256 {sha256(PAYLOAD)}" in message
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "behaviour, reason",
    [
        ("cut", f"the body was cut short: {len(PAYLOAD) // 2} of {len(PAYLOAD)} bytes"),
        ("drop", "the connection dropped after"),
        ("stall", "the server sent nothing for 0.5 s after"),
    ],
)
def test_broken_transfers_fail_cleanly(server, tmp_path, behaviour, reason):
    # A stalled server holds the connection for 30 s, then closes it: only the read's own
    # time-out gives "sent nothing for 0.5 s" (without it the body would end "cut short").
    server.routes["/f"] = (behaviour, PAYLOAD)
    with pytest.raises(DownloadError, match=reason):
        download_file(one_file(server, "/f"), tmp_path / "f.bin", options=DownloadOptions(timeout_s=0.5, attempts=1))
    assert os.listdir(tmp_path) == []


def test_404_on_the_first_mirror_then_the_second_serves(server, tmp_path):
    server.routes["/mirror2/f"] = ("ok", PAYLOAD)
    dest = download_file(one_file(server, "/mirror1/f", "/mirror2/f"), tmp_path / "f.bin", options=QUICK)
    assert dest.read_bytes() == PAYLOAD
    assert server.hits == {"/mirror1/f": 1, "/mirror2/f": 1}


def test_a_server_error_is_retried_but_a_404_is_not(server, tmp_path):
    server.routes["/f"] = ("fail-once", PAYLOAD)
    options = DownloadOptions(timeout_s=2, attempts=3, backoff_s=0)
    download_file(one_file(server, "/gone", "/f"), tmp_path / "f.bin", options=options)
    assert server.hits == {"/gone": 1, "/f": 2}


def test_sigkill_mid_download_leaves_no_final_file_and_the_next_run_succeeds(server, tmp_path):
    content = os.urandom(200 * 1024)  # ~4 s at the slow route's pace
    server.routes["/f"] = ("slow-once", content)
    dest = tmp_path / "f.bin"
    code = (
        "import sys; from pathlib import Path\n"
        "from simplenn.datasets.catalogue import DataFile\n"
        "from simplenn.datasets.download import download_file\n"
        f"download_file(DataFile('f.bin', ({server.url + '/f'!r},), {len(content)}, sha256={sha256(content)!r}), Path({str(dest)!r}))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    child = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.monotonic() + 60  # the child first imports simplenn (and TensorFlow)
        while not any(p.stat().st_size > 8192 for p in tmp_path.glob(".f.bin.simplenn-*.tmp")):
            assert child.poll() is None and time.monotonic() < deadline, "the download never started"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
    assert not dest.exists()
    download_file(one_file(server, "/f", content=content), dest, options=QUICK)
    assert dest.read_bytes() == content


def test_tls_certificates_are_always_checked_and_a_ca_bundle_can_be_named(tls_server, tmp_path, self_signed):
    tls_server.routes["/f"] = ("ok", PAYLOAD)
    with pytest.raises(DownloadError, match=r"TLS certificate check failed \(self.signed certificate\); .* --ca-bundle"):
        download_file(one_file(tls_server, "/f"), tmp_path / "f.bin", options=QUICK)
    options = DownloadOptions(timeout_s=2, attempts=1, ca_bundle=str(self_signed))
    assert download_file(one_file(tls_server, "/f"), tmp_path / "f.bin", options=options).read_bytes() == PAYLOAD


def test_a_missing_ca_bundle_is_a_clear_error(server, tmp_path):
    options = DownloadOptions(ca_bundle=str(tmp_path / "nope.pem"))
    with pytest.raises(DatasetError, match=r"nope.pem: expected a PEM file of CA certificates"):
        download_file(one_file(server, "/f"), tmp_path / "f.bin", options=options)


# The cache, through catalogue names


@pytest.fixture
def tiny_dataset(server, cache_dir, monkeypatch):
    """A catalogue entry "tiny" (four IDX files) served by the local server under /data/."""
    files = idx_files(tiny_splits())
    for name, content in files.items():
        server.routes[f"/data/{name}"] = ("ok", content)
    spec = idx_spec("tiny", files, [server.url + "/data/"], debian_package="dataset-tiny")
    monkeypatch.setitem(catalogue.CATALOGUE, "tiny", spec)
    return spec, files


def test_a_catalogue_dataset_downloads_once_then_loads_from_the_cache(tiny_dataset, cache_dir, server):
    (x_train, y_train), (x_test, y_test) = load_dataset("tiny", options=QUICK, progress=None)
    np.testing.assert_array_equal(x_train, tiny_splits()[0][0])
    assert sorted(os.listdir(cache_dir / "tiny")) == sorted(tiny_dataset[1])
    load_dataset("tiny", options=QUICK, progress=None)
    assert set(server.hits.values()) == {1}


def test_keras_home_is_the_default_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("SIMPLENN_DATA", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert cache.cache_root() == tmp_path / "keras" / "datasets"
    assert cache.cached_path(catalogue.MNIST.files[0]) == tmp_path / "keras" / "datasets" / "mnist.npz"
    assert cache.cached_path(catalogue.FASHION_MNIST.files[0]).parent == tmp_path / "keras" / "datasets" / "fashion-mnist"


def test_system_copies_are_found(tiny_dataset, tmp_path, server):
    spec, files = tiny_dataset
    write_files(tmp_path / "system" / "tiny", files)
    assert all(state.ready for state in list_datasets() if state.spec.name == "tiny")
    load_dataset("tiny", options=QUICK, progress=None)
    assert server.hits == {}


def test_a_corrupted_cached_file_is_detected_and_fetch_replaces_it(tiny_dataset, cache_dir, server):
    spec, files = tiny_dataset
    write_files(cache_dir / "tiny", files)
    bad = cache_dir / "tiny" / "train-images-idx3-ubyte.gz"
    damaged = bytearray(files[bad.name])
    damaged[20] ^= 0xFF  # one flipped byte, as a failing disk would leave
    bad.write_bytes(damaged)
    with pytest.raises(DatasetError) as error:
        load_dataset("tiny", options=QUICK, progress=None)
    assert str(error.value).startswith(f"{bad}: sha256 is {sha256(bad.read_bytes())}; expected sha256 ")
    assert "run `simplenn data fetch tiny`" in str(error.value)
    assert server.hits == {}  # detected, not silently replaced
    assert [check.problem is not None for check in verify("tiny")] == [True, False, False, False]
    fetch("tiny", options=QUICK)
    assert bad.read_bytes() == files[bad.name]
    load_dataset("tiny", options=QUICK, progress=None)


def test_test_only_reads_and_verifies_only_the_test_files(tiny_dataset, cache_dir, server):
    # What `evaluate` asks for: the training files are not even verified, so a damaged one
    # does not stop it, while a full load still refuses the same cache.
    spec, files = tiny_dataset
    write_files(cache_dir / "tiny", files)
    bad = cache_dir / "tiny" / "train-images-idx3-ubyte.gz"
    bad.write_bytes(files[bad.name][:-7])  # truncated
    dataset = load_dataset("tiny", options=QUICK, progress=None, test_only=True)
    (x_train, y_train), (x_test, y_test) = dataset
    (_, _), (expected_images, expected_labels) = tiny_splits()
    np.testing.assert_array_equal(x_test, expected_images)
    np.testing.assert_array_equal(y_test, expected_labels)
    assert x_train.shape == (0, *expected_images.shape[1:]) and y_train.shape == (0,)
    assert dataset.image_shape == expected_images.shape[1:] and dataset.class_names == spec.class_names
    assert server.hits == {}
    with pytest.raises(DatasetError, match="sha256 is"):
        load_dataset("tiny", options=QUICK, progress=None)


def test_offline_error_names_the_files_their_hashes_urls_and_where_to_put_them(cache_dir, monkeypatch):
    files = idx_files(tiny_splits())
    closed_port = "http://127.0.0.1:9/"  # discard port: nothing listens, the connection is refused
    spec = idx_spec("tiny", files, [closed_port], debian_package="dataset-tiny")
    monkeypatch.setitem(catalogue.CATALOGUE, "tiny", spec)
    with pytest.raises(DatasetError) as error:
        load_dataset("tiny", options=QUICK, progress=None)
    message = str(error.value)
    assert message.startswith("tiny is not on this machine and could not be downloaded; put train-images")
    assert f"copies obtained elsewhere; could not download train-images-idx3-ubyte.gz: {closed_port}" in message
    for data_file in spec.files:
        assert f"{data_file.name} (sha256 {data_file.sha256}) from {data_file.urls[0]}" in message
    assert f"in {cache_dir / 'tiny'}, or install the Debian package dataset-tiny" in message
    assert "or run `simplenn data import tiny PATH`" in message
    assert "\n" not in message


class SilentServer:
    """A server that reads each request and never answers; `paths()` lists the paths asked for."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/"
        self.asked: queue.Queue[str] = queue.Queue()
        self.held: list[socket.socket] = []  # open, so that each client waits for its own time-out
        threading.Thread(target=self._listen, daemon=True).start()

    def _listen(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed
                return
            self.held.append(connection)
            request_line = connection.makefile("rb").readline()  # "GET /path HTTP/1.1"
            self.asked.put(request_line.split()[1].decode() if request_line else "")

    def paths(self) -> list[str]:
        """The paths asked for so far, in order: connections are taken in turn, so once a last
        request of our own is read, every one before it has been."""
        with socket.create_connection(self.listener.getsockname()) as own:
            own.sendall(b"GET /end HTTP/1.1\r\n\r\n")
            paths = []
            while (path := self.asked.get(timeout=60)) != "/end":
                paths.append(path)
        return paths

    def close(self) -> None:
        self.listener.close()
        for connection in self.held:
            connection.close()


@pytest.fixture
def silent():
    server = SilentServer()
    yield server
    server.close()


def test_a_deadline_bounds_the_wait_over_every_retry_and_mirror(silent, no_proxy, tmp_path):
    data_file = DataFile(cache_path="f.bin", urls=(silent.url + "a", silent.url + "b"), size=1, sha256="0" * 64)
    options = DownloadOptions(timeout_s=0.4, deadline_s=1.0, attempts=5, backoff_s=0.1)
    with pytest.raises(DownloadError) as error:
        download_file(data_file, tmp_path / "f.bin", options=options)
    # Only a passed deadline writes "in 1 s"; it cut the 5 rounds over 2 mirrors short.
    assert str(error.value).startswith("could not download f.bin in 1 s without an answer (--deadline 1): ")
    assert re.search(rf"{silent.url}a: no answer within [\d.]+ s; {silent.url}b: no answer within [\d.]+ s$",
                     str(error.value))
    assert len(silent.paths()) < 5 * 2


def test_the_default_deadline_answers_well_within_a_minute():
    options = DownloadOptions()
    assert options.deadline_s <= 30 and options.timeout_s < options.deadline_s  # a second mirror gets a turn


def test_a_slow_download_that_keeps_sending_outlives_the_deadline(server, tmp_path):
    # 80 chunks, each 20 ms after the last: at least 1.6 s in all, past a deadline of 1 s
    # that a gap between chunks comes nowhere near, however busy this machine is.
    content = os.urandom(80 * 1024)
    server.routes["/f"] = ("slow-once", content)
    options = DownloadOptions(timeout_s=1.0, deadline_s=1.0, attempts=1)
    started = time.monotonic()
    assert download_file(one_file(server, "/f", content=content), tmp_path / "f.bin", options=options).read_bytes() == content
    assert time.monotonic() - started > options.deadline_s  # it did outlive the deadline


def test_one_deadline_spans_every_file_of_a_dataset(silent, no_proxy, cache_dir, monkeypatch, capsys):
    spec = idx_spec("tiny", idx_files(tiny_splits()), [silent.url])  # four files, none will come
    monkeypatch.setitem(catalogue.CATALOGUE, "tiny", spec)
    assert main(["data", "fetch", "tiny", "--timeout", "0.3", "--deadline", "1"]) == 2
    assert set(silent.paths()) == {"/train-images-idx3-ubyte.gz"}  # the deadline spent, no other file was waited for
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0] == "simplenn: error: tiny is not on this machine and could not be downloaded;"
    assert lines[-1].startswith("  could not download train-images-idx3-ubyte.gz in 1 s without an answer (--deadline 1): ")
    assert len(lines[0]) <= 100 and all(line.startswith("  ") for line in lines[1:]) and "Traceback" not in err


def test_a_damaged_cached_copy_gives_way_to_a_verified_system_copy(tiny_dataset, cache_dir, tmp_path, server, capsys):
    spec, files = tiny_dataset
    write_files(tmp_path / "system" / "tiny", files)
    bad = write_files(cache_dir / "tiny", files) / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(b"damaged")
    with pytest.warns(SimplennWarning) as warned:
        (x_train, _), _ = load_dataset("tiny", options=QUICK, progress=None)
    np.testing.assert_array_equal(x_train, tiny_splits()[0][0])
    [warning] = warned
    assert str(warning.message).startswith(f"{bad}: sha256 is {sha256(b'damaged')}; ")
    assert str(warning.message).endswith(f"; meanwhile using the verified copy {tmp_path / 'system' / 'tiny' / bad.name}")
    assert main(["data", "fetch", "tiny"]) == 0  # repairs the cache from the verified copy, offline
    assert bad.read_bytes() == files[bad.name] and server.hits == {}
    assert main(["train", "--dataset", "tiny", "--epochs", "1", "--run-dir", str(tmp_path / "run"), "--quiet"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_the_cli_prints_the_fallback_warning_in_one_line(tiny_dataset, cache_dir, tmp_path, capsys):
    spec, files = tiny_dataset
    write_files(tmp_path / "system" / "tiny", files)
    (write_files(cache_dir / "tiny", files) / "t10k-labels-idx1-ubyte.gz").write_bytes(b"damaged")
    assert main(["show", "--dataset", "tiny", "--out", str(tmp_path / "sample.png")]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"simplenn: warning: {cache_dir / 'tiny' / 't10k-labels-idx1-ubyte.gz'}: sha256 is ")
    assert err.count("\n") == 1


def test_npz_source_downloads_and_loads(server, cache_dir, monkeypatch):
    (x_train, y_train), (x_test, y_test) = tiny_splits()
    content = npz_bytes(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    server.routes["/tiny.npz"] = ("ok", content)
    monkeypatch.setitem(catalogue.CATALOGUE, "tinynpz", npz_spec("tinynpz", content, [server.url + "/tiny.npz"]))
    assert fetch("tinynpz", options=QUICK) == [cache_dir / "tinynpz.npz"]
    (a, _), _ = load_dataset("tinynpz", progress=None)
    np.testing.assert_array_equal(a, x_train)


# import


def test_import_copies_verified_files_into_the_cache(tiny_dataset, cache_dir, tmp_path, server):
    spec, files = tiny_dataset
    folder = write_files(tmp_path / "elsewhere", files)
    assert import_files("tiny", folder) == [cache_dir / f.cache_path for f in spec.files]
    load_dataset("tiny", progress=None)
    assert server.hits == {}


def test_import_recognises_one_renamed_file_by_its_hash(tiny_dataset, cache_dir, tmp_path):
    spec, files = tiny_dataset
    renamed = tmp_path / "download (1).gz"
    renamed.write_bytes(files["t10k-labels-idx1-ubyte.gz"])
    assert import_files("tiny", renamed) == [cache_dir / "tiny" / "t10k-labels-idx1-ubyte.gz"]


def test_import_refuses_a_file_that_is_not_the_published_one(tiny_dataset, cache_dir, tmp_path):
    spec, files = tiny_dataset
    folder = write_files(tmp_path / "elsewhere", {**files, "train-labels-idx1-ubyte.gz": b"not it"})
    with pytest.raises(DatasetError, match=rf"train-labels-idx1-ubyte.gz: sha256 is {sha256(b'not it')}; expected sha256 "):
        import_files("tiny", folder)
    assert not cache_dir.exists() or not any(cache_dir.rglob("*.gz"))


def test_import_of_a_folder_without_the_files(tiny_dataset, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"expected tiny's files \(train-images-idx3-ubyte.gz, .*\), found none of them"):
        import_files("tiny", tmp_path / "empty")


# The `simplenn data` command, and `train` on a bad cached file


def test_cli_data_list_shows_each_dataset_and_where_its_files_are(tiny_dataset, tmp_path, capsys):
    spec, files = tiny_dataset
    write_files(tmp_path / "system" / "tiny", files)
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^tiny +ready +test dataset tiny$", out, re.M)
    assert re.search(r"^kmnist +missing ", out, re.M)
    assert f"train-images-idx3-ubyte.gz   {tmp_path / 'system' / 'tiny' / 'train-images-idx3-ubyte.gz'}" in out
    assert f"cache: {tmp_path / 'cache'}" in out


def test_cli_data_fetch_then_verify(tiny_dataset, cache_dir, capsys):
    assert main(["data", "fetch", "tiny", "--timeout", "2"]) == 0
    assert f"verified {cache_dir / 'tiny' / 't10k-labels-idx1-ubyte.gz'}" in capsys.readouterr().out
    assert main(["data", "verify", "tiny"]) == 0
    assert capsys.readouterr().out.count("ok       tiny") == 4


def test_cli_data_verify_reports_a_bad_file_with_exit_code_2(tiny_dataset, cache_dir, capsys):
    spec, files = tiny_dataset
    bad = write_files(cache_dir / "tiny", files) / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(b"damaged")
    assert main(["data", "verify", "tiny"]) == 2
    captured = capsys.readouterr()
    assert f"BAD      tiny           {bad}: sha256 is {sha256(b'damaged')}; expected sha256 " in captured.out
    assert captured.err == error_text(
        f"1 file(s) failed verification ({bad}); run `simplenn data fetch tiny` to replace them"
    ) + "\n"


def test_cli_data_import_and_unknown_names(tiny_dataset, cache_dir, tmp_path, capsys):
    folder = write_files(tmp_path / "usb-stick", tiny_dataset[1])
    assert main(["data", "import", "tiny", str(folder)]) == 0
    assert capsys.readouterr().out.count("imported ") == 4
    assert main(["data", "fetch", "minst"]) == 2
    assert capsys.readouterr().err.startswith("simplenn: error: unknown dataset 'minst': expected one of mnist, ")


def test_cli_train_on_a_bad_cached_file_exits_2_with_the_hash_mismatch(tiny_dataset, cache_dir, tmp_path, capsys):
    spec, files = tiny_dataset
    bad = write_files(cache_dir / "tiny", files) / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(b"damaged")
    assert main(["train", "--dataset", "tiny", "--epochs", "1", "--run-dir", str(tmp_path / "run")]) == 2
    message = error_message(capsys.readouterr().err)
    assert message.startswith(f"{bad}: sha256 is {sha256(b'damaged')}; expected sha256 ")
    assert not (tmp_path / "run").exists()


# EMNIST: NIST's one zip of every split, here made small and served locally


def emnist_zip(splits_by_name: dict) -> bytes:
    """A zip laid out as NIST's gzip.zip: gzip/emnist-<split>-<train|test>-<images|labels>-idx?-ubyte.gz."""
    import gzip
    import io
    import zipfile

    from mnist_format import idx_bytes
    from simplenn.datasets.emnist import member_names

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for split, ((x_train, y_train), (x_test, y_test)) in splits_by_name.items():
            for member, array in zip(member_names(split), (x_train, y_train, x_test, y_test)):
                archive.writestr(member, gzip.compress(idx_bytes(array), mtime=0))
    return buffer.getvalue()


def test_emnist_downloads_nists_zip_once_verifies_it_and_reads_each_split(server, cache_dir, monkeypatch):
    rng = np.random.default_rng(0)
    upright = rng.integers(0, 256, (26, 4, 3), dtype=np.uint8)  # (n, h, w), one image per letter
    letters = np.arange(26)
    stored = upright.transpose(0, 2, 1)  # EMNIST stores each image transposed, and numbers letters from 1
    digits = rng.integers(0, 256, (10, 4, 4), dtype=np.uint8)
    content = emnist_zip({
        "letters": ((stored, (letters + 1).astype(np.uint8)), (stored[:5], (letters[:5] + 1).astype(np.uint8))),
        "digits": ((digits, np.arange(10, dtype=np.uint8)), (digits, np.arange(10, dtype=np.uint8))),
    })
    server.routes["/EMNIST/gzip.zip"] = ("ok", content)
    test_zip = DataFile(cache_path="emnist/gzip.zip", urls=(server.url + "/EMNIST/gzip.zip",), size=len(content),
                        sha256=sha256(content))
    for name in ("emnist-letters", "emnist-digits"):
        spec = catalogue.CATALOGUE[name]
        monkeypatch.setitem(catalogue.CATALOGUE, name, dataclasses.replace(
            spec, sources=(dataclasses.replace(spec.sources[0], files=(test_zip,)),)))

    dataset = load_dataset("emnist-letters", options=QUICK, progress=None)
    (x_train, y_train), (x_test, y_test) = dataset
    np.testing.assert_array_equal(x_train, upright)  # transposed back
    np.testing.assert_array_equal(y_train, letters)  # numbered from 0
    assert dataset.class_names[:3] == ("A", "B", "C") and len(dataset.class_names) == 26
    assert (cache_dir / "emnist" / "gzip.zip").read_bytes() == content
    (x_digits, _), _ = load_dataset("emnist-digits", options=QUICK, progress=None)
    np.testing.assert_array_equal(x_digits, digits.transpose(0, 2, 1))
    assert server.hits["/EMNIST/gzip.zip"] == 1  # one download serves every split


def test_emnist_zip_without_the_split_names_the_missing_member(server, cache_dir, monkeypatch):
    content = emnist_zip({"digits": tiny_splits()})
    server.routes["/gzip.zip"] = ("ok", content)
    test_zip = DataFile(cache_path="emnist/gzip.zip", urls=(server.url + "/gzip.zip",), size=len(content),
                        sha256=sha256(content))
    spec = catalogue.CATALOGUE["emnist-balanced"]
    monkeypatch.setitem(catalogue.CATALOGUE, "emnist-balanced", dataclasses.replace(
        spec, sources=(dataclasses.replace(spec.sources[0], files=(test_zip,)),)))
    with pytest.raises(DatasetError, match=r"gzip.zip: expected EMNIST's member gzip/emnist-balanced-train-images-idx3-ubyte.gz"):
        load_dataset("emnist-balanced", options=QUICK, progress=None)


def test_the_real_emnist_entries_pin_nists_zip_by_the_md5_torchvision_pins():
    for name in ("emnist-letters", "emnist-balanced", "emnist-digits"):
        [source] = catalogue.CATALOGUE[name].sources
        [data_file] = source.files
        assert source.format == "emnist-zip" and data_file.md5 == "58c8d27c78d21e728a6bc7b3cc06412e"
        assert data_file.urls[0] == "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip"

"""Download one catalogue file: streamed, time-limited, retried across mirrors, verified.

Two limits bound the waiting: `timeout_s` for any one connection or read, and
`deadline_s` for the whole search, across every retry, mirror and file: once that many
seconds pass without a byte arriving from anywhere, the download gives up and says so.

The body goes to a temporary file (`file_safety.write_atomically`), is checked against the pinned hashes, and only then
renamed to its final name (see `cache.install_file`). Proxies come from the usual
`http_proxy`/`https_proxy`/`no_proxy` variables, as urllib reads them. TLS certificates
are always checked; a proxy that re-signs traffic needs its CA bundle named, never the
check turned off.
"""

# Why not pooch (1.9), the field's fetcher? It shares streaming in chunks, a time-out per
# read, a temporary file renamed only once its hash matches, any cache layout (so Keras's)
# and verified TLS, but it takes one URL per file (no mirrors tried in turn) and one hash
# (ours accept md5 or sha256, or the sha256 of a recompressed .gz's content, which pooch
# would let us check only after the rename); it renames without fsync, retries 4xx answers
# and hash mismatches on the same URL, and trusts certifi's CAs, not the system's. It could
# replace only `_download_from`.

from __future__ import annotations

import http.client
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from simplenn.datasets.cache import install_file
from simplenn.datasets.catalogue import DataFile
from simplenn.datasets.integrity import mismatch
from simplenn.datasets.validation import DatasetError

CHUNK_BYTES = 2**16
# Some mirrors answer 403 to urllib's default "Python-urllib" agent.
USER_AGENT = "simplenn"
# (file name, bytes received, total bytes or None when the server does not say)
Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class DownloadOptions:
    """How patiently to download."""

    timeout_s: float = 10.0  # longest wait to connect, or for the next bytes of a body
    # Longest wait without receiving data, over all URLs and rounds: a second mirror still
    # gets its turn after a first that never answers, and an offline machine hears in 30 s.
    deadline_s: float = 30.0
    attempts: int = 3  # rounds over all of a file's URLs
    backoff_s: float = 1.0  # pause before the second round; it doubles each round after
    # A PEM bundle trusted instead of the system's CAs (as requests' REQUESTS_CA_BUNDLE);
    # None means $SIMPLENN_CA_BUNDLE, else the system's (which honours SSL_CERT_FILE).
    ca_bundle: str | None = None


class DownloadError(DatasetError):
    """Every URL of a file failed; the message gives each URL's reason."""


class Deadline:
    """The time left to wait for data: `deadline_s` from the start or from the last bytes received.

    One `Deadline` spans everything a fetch downloads, so mirrors and files share it.
    """

    def __init__(self, deadline_s: float):
        self.deadline_s = deadline_s
        self._since = time.monotonic()

    def received(self) -> None:
        """Bytes arrived: the clock starts again."""
        self._since = time.monotonic()

    def remaining(self) -> float:
        return self.deadline_s - (time.monotonic() - self._since)

    @property
    def passed(self) -> bool:
        return self.remaining() <= 0


class _Failure(Exception):
    """One URL failed for `reason`; `permanent` when asking it again cannot help."""

    def __init__(self, reason: str, permanent: bool = False):
        super().__init__(reason)
        self.permanent = permanent


def download_file(
    data_file: DataFile,
    dest: Path,
    *,
    options: DownloadOptions = DownloadOptions(),
    progress: Progress | None = None,
    deadline: Deadline | None = None,
) -> Path:
    """Download `data_file` to `dest`, trying each URL in turn, and return `dest`.

    `dest` appears only once its content matches a pinned hash. Raises `DownloadError`
    when every URL failed in every round or the deadline passed (`deadline`, shared with
    the caller's other downloads, else `options.deadline_s` from now), `DatasetError` when
    `dest` cannot be written.
    """
    # ProxyHandler, added by build_opener by default, reads the proxy variables.
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=_tls_context(options)))
    deadline = deadline or Deadline(options.deadline_s)
    reasons: dict[str, str] = {}
    given_up: set[str] = set()
    for attempt in range(options.attempts):
        if attempt:
            time.sleep(min(options.backoff_s * 2 ** (attempt - 1), max(deadline.remaining(), 0)))
        for url in data_file.urls:
            if url in given_up or deadline.passed:
                continue
            try:
                return _download_from(opener, url, data_file, dest, options.timeout_s, progress, deadline)
            except _Failure as failure:
                reasons[url] = str(failure)
                if failure.permanent:
                    given_up.add(url)
        if len(given_up) == len(data_file.urls) or deadline.passed:
            break
    waited = (f" in {deadline.deadline_s:g} s without an answer (--deadline {deadline.deadline_s:g})"
              if deadline.passed else "")
    tried = "; ".join(f"{url}: {reason}" for url, reason in reasons.items()) or "no URL was tried"
    raise DownloadError(f"could not download {data_file.name}{waited}: {tried}")


def _download_from(
    opener: urllib.request.OpenerDirector,
    url: str,
    data_file: DataFile,
    dest: Path,
    timeout_s: float,
    progress: Progress | None,
    deadline: Deadline,
) -> Path:
    """Stream `url` into `dest` through `install_file`; raise `_Failure` saying why not."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    timeout_s = max(min(timeout_s, deadline.remaining()), 0.1)  # no wait past the deadline
    try:
        response = opener.open(request, timeout=timeout_s)
    except urllib.error.HTTPError as error:
        # 4xx other than "try later" will not change on a second try.
        permanent = 400 <= error.code < 500 and error.code not in (408, 429)
        raise _Failure(f"HTTP {error.code} {error.reason}", permanent) from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, ssl.SSLCertVerificationError):
            raise _Failure(
                f"TLS certificate check failed ({error.reason.verify_message}); if a proxy re-signs "
                "HTTPS traffic, name its CA bundle with --ca-bundle or SIMPLENN_CA_BUNDLE",
                permanent=True,
            ) from None
        raise _Failure(f"cannot connect ({error.reason})") from None
    except TimeoutError:  # connected, but the answer did not begin in time
        raise _Failure(f"no answer within {timeout_s:g} s") from None
    except (OSError, http.client.HTTPException) as error:
        raise _Failure(f"cannot connect ({error!r})") from None

    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None

    def write(stream: BinaryIO) -> None:
        received = 0
        while True:
            try:
                chunk = response.read(CHUNK_BYTES)
            except TimeoutError:
                raise _Failure(f"the server sent nothing for {timeout_s:g} s after {received} bytes") from None
            except (OSError, http.client.HTTPException) as error:
                raise _Failure(f"the connection dropped after {received} bytes ({error!r})") from None
            if not chunk:
                break
            deadline.received()
            stream.write(chunk)
            received += len(chunk)
            if progress:
                progress(data_file.name, received, total)
        if total is not None and received < total:
            raise _Failure(f"the body was cut short: {received} of {total} bytes")
        if progress and total is None:
            progress(data_file.name, received, received)

    def check(part: Path) -> None:
        if problem := mismatch(part, data_file):
            raise _Failure(problem, permanent=True)

    with response:
        return install_file(dest, write, check, data_file.size)


def _tls_context(options: DownloadOptions) -> ssl.SSLContext:
    """A certificate-checking TLS context, trusting `options.ca_bundle` when one is named."""
    ca_bundle = options.ca_bundle or os.environ.get("SIMPLENN_CA_BUNDLE")
    try:
        return ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as error:
        raise DatasetError(
            f"{ca_bundle}: expected a PEM file of CA certificates, could not load it ({error}); "
            "fix --ca-bundle or SIMPLENN_CA_BUNDLE"
        ) from None


def show_progress(name: str, received: int, total: int | None) -> None:
    """Redraw one progress line for `name` on stderr; silent when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return
    if total:
        filled = 30 * received // total
        line = f"\r{name} [{'#' * filled:<30}] {received / 1e6:.1f}/{total / 1e6:.1f} MB"
    else:
        line = f"\r{name} {received / 1e6:.1f} MB"
    sys.stderr.write(line + ("\n" if total and received >= total else ""))
    sys.stderr.flush()

"""compat's backend protocol, shared by the backend scripts (standard library only).

Each script imports this file by its own path (``load_protocol()`` below is the
three lines they copy), so a script still runs from a checkout with nothing
installed. What lives here is what every engine adapter needs the same way:

* the probe (docs: the probe contract, protocol 1): the request compat writes,
  the answer the script writes atomically, the exit codes, and how an installed
  engine is identified (version, and the git commit of an editable install);
* the plumbing every batch script shares: ``read_prompts`` (one prompt per
  line, untouched), ``Results`` (results.jsonl, one flushed line per event),
  ``positive_int`` / ``non_negative_int`` (argparse types), ``error_text`` (one
  error-text format), ``save_image`` (an image is on disk, whole, before its
  ``ok: true`` line is written).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

PROBE_PROTOCOL = 1

# Probe exit codes (compat falls back to features.toml's static `unsupported`
# for anything but 0).
PROBE_OK = 0
PROBE_WRITE_FAILED = 1
PROBE_BAD_REQUEST = 2
PROBE_NOT_IMPORTABLE = 3

ERROR_TEXT_LIMIT = 600


def error_text(exc: BaseException, limit: int = ERROR_TEXT_LIMIT) -> str:
    """`Type: message` on one line (every run of whitespace, newlines included,
    folded to one space, so a multi-line message keeps its detail), at most
    `limit` characters; just `Type` for an empty message."""
    message = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------ batch plumbing


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def optional_float(text: str) -> float | None:
    """A float flag compat may leave empty (`--guidance-scale=` when the run
    sets none): empty is None, the engine's own default."""
    if text.strip() == "":
        return None
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


class Once(argparse.Action):
    """Store a value; giving the option twice is an error (a feature flag must
    not silently override a setting compat passes, e.g. a second --seed)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, "_seen_" + self.dest, False):
            parser.error(f"{option_string} given twice (compat sets it; a feature must not)")
        setattr(namespace, "_seen_" + self.dest, True)
        setattr(namespace, self.dest, values)


def split_argv(argv: list[str], own: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The script's own flags (``own``, each joined to its value as
    ``--flag=value``, so a value such as a negative prompt "-blurry" is never
    read as an option) and the rest, the engine's feature flags, in order."""
    ours: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        name = token.split("=", 1)[0]
        if name in own:
            if "=" in token or i + 1 >= len(argv):
                ours.append(token)
                i += 1
            else:
                ours.append(f"{token}={argv[i + 1]}")
                i += 2
        elif token in ("-h", "--help"):
            ours.append(token)
            i += 1
        else:
            rest.append(token)
            i += 1
    return ours, rest


def read_prompts(path: str) -> list[str]:
    """One prompt per line, UTF-8, passed through untouched.

    Lines are split on "\n" only (not str.splitlines, which would also split on
    \x0b, \x0c, \x1c-\x1e, \x85, U+2028 and U+2029 inside a prompt). A "\r"
    before the "\n" (CRLF files), the empty piece after a final newline and a
    UTF-8 byte-order mark are dropped; nothing else is stripped or unescaped."""
    text = Path(path).read_bytes().decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


class Results:
    """results.jsonl, one JSON object per line, flushed (and fsynced) after
    every line, so a crash loses nothing already reported. With `path` None
    (ranks other than the writer) it writes nothing."""

    def __init__(self, path: Path | str | None) -> None:
        self._f = open(path, "w", encoding="utf-8") if path is not None else None

    def write(self, obj: dict[str, Any]) -> None:
        if self._f is None:
            return
        self._f.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
        self._f.flush()
        try:
            os.fsync(self._f.fileno())
        except OSError:
            pass

    def close(self) -> None:
        if self._f is not None:
            self._f.close()


def save_image(image: Any, path: Path | str) -> None:
    """Save `image` (anything with ``.save(path)``) so that `path` only ever
    holds a whole image: written to a temporary name beside it with the same
    suffix (PIL picks the format from it), checked non-empty, fsynced, then
    renamed into place. Raises on any failure, leaving nothing at `path`; the
    caller writes the prompt's ``ok: true`` line only after this returns."""
    target = Path(path)
    tmp = target.with_name(f".{target.stem}.partial{target.suffix}")
    try:
        image.save(str(tmp))
        size = tmp.stat().st_size if tmp.exists() else 0
        if size == 0:
            raise OSError(f"saving {target.name} wrote nothing")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


# ---------------------------------------------------------------------- probe


class BadProbeRequest(Exception):
    """The probe request is not what the contract says (exit 2)."""


def read_probe_request(path: str) -> dict[str, Any]:
    """The request compat wrote: {"model": str, "features": {name: [argv...]},
    "settings": {...}}. Raises BadProbeRequest saying what is wrong and where."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadProbeRequest(f"cannot read probe request {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise BadProbeRequest(f"probe request {path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadProbeRequest(f"probe request {path}: expected an object, got {type(data).__name__}")
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise BadProbeRequest(f"probe request {path}: \"model\" must be a non-empty string")
    features = data.get("features", {})
    if not isinstance(features, dict):
        raise BadProbeRequest(f"probe request {path}: \"features\" must be an object of name -> argv list")
    for name, argv in features.items():
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise BadProbeRequest(f"probe request {path}: feature {name!r} must map to a list of strings")
    settings = data.get("settings", {})
    if not isinstance(settings, dict):
        raise BadProbeRequest(f"probe request {path}: \"settings\" must be an object")
    return {"model": model, "features": features, "settings": settings}


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write JSON to a temporary file beside `path`, then rename it into place:
    a reader sees the old file or the whole new one, never half of it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=str(target.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=1, sort_keys=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def engine_identity(distribution: str, module: Any) -> dict[str, Any]:
    """{"version", "commit", "install"} of an installed engine.

    The version comes from the installed distribution's metadata, else from the
    module's ``__version__``. ``install`` is "editable" for `pip install -e`
    (PEP 610 direct_url.json with dir_info.editable), "wheel" for an ordinary
    install, "unknown" for a package found on sys.path without metadata. The
    commit is that of an editable checkout (`git rev-parse`), or the one pip
    recorded for a VCS install; None otherwise."""
    from importlib import metadata  # noqa: PLC0415

    version = None
    install = "unknown"
    commit = None
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        dist = None
    module_file = getattr(module, "__file__", None)
    if dist is not None and module_file is not None:
        # Only trust metadata that belongs to the package actually imported
        # (a stand-in or a checkout on PYTHONPATH shadows an installed wheel).
        files = {str(Path(str(dist.locate_file(f))).resolve()) for f in (dist.files or [])}
        if str(Path(module_file).resolve()) not in files:
            direct = _direct_url(dist)
            editable_dir = _editable_dir(direct)
            if editable_dir is None or not str(Path(module_file).resolve()).startswith(editable_dir):
                dist = None
    if dist is not None:
        version = dist.version
        install = "wheel"
        direct = _direct_url(dist)
        editable_dir = _editable_dir(direct)
        if editable_dir is not None:
            install = "editable"
            commit = _git_commit(editable_dir)
        elif isinstance(direct, dict) and isinstance(direct.get("vcs_info"), dict):
            commit = direct["vcs_info"].get("commit_id")
    if version is None:
        version = getattr(module, "__version__", None)
        if version is None:
            try:
                version = __import__(module.__name__ + ".__version__", fromlist=["__version__"]).__version__
            except Exception:  # noqa: BLE001
                version = None
    return {"version": str(version) if version is not None else None, "commit": commit, "install": install}


def _direct_url(dist: Any) -> Any:
    try:
        text = dist.read_text("direct_url.json")
        return json.loads(text) if text else None
    except Exception:  # noqa: BLE001
        return None


def _editable_dir(direct: Any) -> str | None:
    if not isinstance(direct, dict):
        return None
    info = direct.get("dir_info")
    url = direct.get("url", "")
    if isinstance(info, dict) and info.get("editable") and isinstance(url, str) and url.startswith("file://"):
        return str(Path(url[len("file://"):]).resolve())
    return None


def _git_commit(directory: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", directory, "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def engine_record(distribution: str, module: Any) -> dict[str, Any]:
    """The engine as it goes into the `settings` event (docs/probe.md):
    {"engine", "version", "commit", "install"} — what really ran, which compat
    prefers in report.json over what its probe saw before the run."""
    identity = engine_identity(distribution, module)
    return {"engine": distribution, "version": identity.get("version") or "unknown",
            "commit": identity.get("commit"), "install": identity.get("install", "unknown")}


def probe_answer(engine: str, identity: dict[str, Any], model: str,
                 features: dict[str, dict[str, Any]], notes: list[str]) -> dict[str, Any]:
    return {
        "event": "probe",
        "protocol": PROBE_PROTOCOL,
        "engine": engine,
        "version": identity.get("version"),
        "commit": identity.get("commit"),
        "install": identity.get("install", "unknown"),
        "model": model,
        "features": features,
        "notes": notes,
    }


def not_importable(engine: str, exc: BaseException) -> int:
    """What a probe does when the engine is not importable here: one line, exit 3."""
    print(f"probe: {engine} not importable: {error_text(exc, 300)}", file=sys.stderr, flush=True)
    return PROBE_NOT_IMPORTABLE


def probe_argv(argv: list[str]) -> tuple[str, str] | None:
    """(request path, output path) when argv is a probe call
    (`--probe REQUEST --output OUT`), else None. Raises BadProbeRequest for a
    probe call that lacks one of them."""
    if "--probe" not in argv and not any(a.startswith("--probe=") for a in argv):
        return None
    values: dict[str, str] = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        name, eq, value = token.partition("=")
        if name in ("--probe", "--output"):
            if not eq:
                if i + 1 >= len(argv):
                    raise BadProbeRequest(f"{name} needs a value")
                value = argv[i + 1]
                i += 1
            values[name] = value
        else:
            raise BadProbeRequest(f"a probe takes only --probe REQUEST --output OUT, not {token!r}")
        i += 1
    if "--output" not in values:
        raise BadProbeRequest("--probe needs --output OUT (where the answer goes)")
    return values["--probe"], values["--output"]


def probe_if_asked(argv: list[str], probe_main: Callable[[str, str], int]) -> int | None:
    """The probe's exit code when ``argv`` is a probe call (``probe_main(request,
    output)`` answers it), PROBE_BAD_REQUEST for a malformed one, else None: the
    script runs its batch."""
    try:
        call = probe_argv(argv)
    except BadProbeRequest as exc:
        print(f"error: {exc}", file=sys.stderr)
        return PROBE_BAD_REQUEST
    return None if call is None else probe_main(*call)


def write_probe_answer(output_path: str, answer: dict[str, Any]) -> int:
    """Writes a probe's answer atomically; the probe's exit code (PROBE_OK, or
    PROBE_WRITE_FAILED with the reason on stderr)."""
    try:
        write_json_atomic(output_path, answer)
    except OSError as exc:
        print(f"error: cannot write the probe answer {output_path}: {exc}", file=sys.stderr)
        return PROBE_WRITE_FAILED
    return PROBE_OK

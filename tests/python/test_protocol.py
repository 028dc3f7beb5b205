"""backends/protocol.py: the plumbing the three backend scripts share (standard library only)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
_spec = importlib.util.spec_from_file_location("compat_protocol_tested", REPO / "backends" / "protocol.py")
protocol = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(protocol)  # type: ignore[union-attr]


class _Image:
    def __init__(self, data: bytes, fail: bool = False) -> None:
        self.data, self.fail = data, fail

    def save(self, path: str) -> None:
        Path(path).write_bytes(self.data[:3])
        if self.fail:
            raise RuntimeError("disk full")
        Path(path).write_bytes(self.data)


class TestProtocol(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="compat-protocol-"))

    def tearDown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_save_image_whole_or_nothing(self) -> None:
        target = self.tmp / "prompt_00.png"
        protocol.save_image(_Image(b"\x89PNG-data"), target)
        self.assertEqual(target.read_bytes(), b"\x89PNG-data")
        for image, expect in ((_Image(b"", False), "wrote nothing"), (_Image(b"\x89PNG-data", True), "disk full")):
            with self.subTest(expect=expect):
                other = self.tmp / "prompt_01.png"
                with self.assertRaisesRegex(Exception, expect):
                    protocol.save_image(image, other)
                self.assertFalse(other.exists())
        self.assertEqual(sorted(p.name for p in self.tmp.iterdir()), ["prompt_00.png"])  # no partial file

    def test_the_temporary_name_keeps_the_suffix(self) -> None:
        seen = []

        class Recorder:
            def save(self, path: str) -> None:
                seen.append(Path(path).suffix)
                Path(path).write_bytes(b"x")

        protocol.save_image(Recorder(), self.tmp / "prompt_00.png")
        self.assertEqual(seen, [".png"])  # PIL picks the format from it

    def test_results_lines_and_silent_ranks(self) -> None:
        path = self.tmp / "results.jsonl"
        results = protocol.Results(path)
        results.write({"prompt": 0, "ok": True, "path": Path("x")})
        results.close()
        self.assertEqual(json.loads(path.read_text()), {"prompt": 0, "ok": True, "path": "x"})
        quiet = protocol.Results(None)
        quiet.write({"event": "load"})
        quiet.close()

    def test_read_prompts_untouched(self) -> None:
        path = self.tmp / "p.txt"
        path.write_bytes("\ufeffa\r\n  b \u2028c\n\nd\n".encode("utf-8"))
        self.assertEqual(protocol.read_prompts(str(path)), ["a", "  b \u2028c", "", "d"])

    def test_error_text_is_one_line(self) -> None:
        self.assertEqual(protocol.error_text(RuntimeError("CUDA out of memory.\nTried to allocate 2 GiB")),
                         "RuntimeError: CUDA out of memory. Tried to allocate 2 GiB")
        self.assertEqual(protocol.error_text(KeyError()), "KeyError")
        long = protocol.error_text(ValueError("x" * 5000))
        self.assertEqual(len(long), protocol.ERROR_TEXT_LIMIT)

    def test_argparse_types(self) -> None:
        import argparse

        self.assertEqual(protocol.positive_int("3"), 3)
        with self.assertRaises(argparse.ArgumentTypeError):
            protocol.positive_int("0")
        self.assertEqual(protocol.non_negative_int("0"), 0)
        with self.assertRaises(argparse.ArgumentTypeError):
            protocol.non_negative_int("-1")

    def test_probe_argv(self) -> None:
        self.assertIsNone(protocol.probe_argv(["--model", "m"]))
        self.assertEqual(protocol.probe_argv(["--probe", "r.json", "--output=a.json"]), ("r.json", "a.json"))
        with self.assertRaisesRegex(protocol.BadProbeRequest, "only --probe REQUEST --output OUT"):
            protocol.probe_argv(["--probe", "r.json", "--output", "a.json", "--model", "m"])

    def test_probe_dispatch_and_answer(self) -> None:
        calls = []
        answer = lambda req, out: calls.append((req, out)) or protocol.PROBE_OK  # noqa: E731
        self.assertIsNone(protocol.probe_if_asked(["--model", "m"], answer))
        self.assertEqual(protocol.probe_if_asked(["--probe", "r.json"], answer), protocol.PROBE_BAD_REQUEST)
        self.assertEqual(protocol.probe_if_asked(["--probe=r.json", "--output", "a.json"], answer), protocol.PROBE_OK)
        self.assertEqual(calls, [("r.json", "a.json")])
        out = self.tmp / "answer.json"
        self.assertEqual(protocol.write_probe_answer(str(out), {"event": "probe"}), protocol.PROBE_OK)
        self.assertEqual(json.loads(out.read_text(encoding="utf-8")), {"event": "probe"})
        (self.tmp / "a-file").write_text("x", encoding="utf-8")  # not a folder: the answer cannot go there
        blocked = self.tmp / "a-file" / "answer.json"
        self.assertEqual(protocol.write_probe_answer(str(blocked), {}), protocol.PROBE_WRITE_FAILED)

    def test_a_script_runs_without_anything_installed(self) -> None:
        import subprocess
        import sys

        for name in ("xdit", "vllm_omni", "diffusers"):
            with self.subTest(script=name):
                proc = subprocess.run([sys.executable, "-S", str(REPO / "backends" / name / "batch_text_to_image.py"),
                                       "--help"], capture_output=True, text=True, timeout=60, cwd=str(self.tmp))
                self.assertEqual(proc.returncode, 0, proc.stderr)


if __name__ == "__main__":
    unittest.main()

"""The early-exit runtime (ONNX Runtime and PyTorch backends) against EarlyExitNetwork.infer."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from aebnas.errors import UserError
from aebnas.runtime import open_runtime
from aebnas.runtime.engine import EarlyExitRuntime


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_predictions_and_exits_equal_infer_batched_and_at_batch_1(deployed, backend):
    net, metadata, x, folder, checkpoint = deployed
    runtime = open_runtime(folder if backend == "onnx" else checkpoint, threads=1)
    assert runtime.backend == backend
    expected, expected_exit = net.infer(x, metadata.infer_thresholds)
    counts = torch.bincount(expected_exit, minlength=5)
    assert counts[1] == 0 and (counts[[0, 2, 3, 4]] > 0).all()  # every active exit is taken
    predictions, exit_index = runtime.predict(x)
    assert torch.equal(predictions, expected) and torch.equal(exit_index, expected_exit)
    for i in range(0, len(x), 9):
        p, e = runtime.predict(x[i : i + 1])
        assert (int(p), int(e)) == (int(expected[i]), int(expected_exit[i]))


def _counting(runtime):
    calls: list[tuple[str, int]] = []

    def wrap(step):
        segment = step.segment

        def run(t):
            calls.append((step.name, t.shape[0]))
            return segment.run(t)

        def arrays(a):
            calls.append((step.name, a.shape[0]))
            return segment.arrays(a)

        return replace(step, segment=replace(segment, run=run, arrays=arrays))

    runtime.plan = tuple(wrap(s) for s in runtime.plan)
    return calls


def test_batch_1_stops_at_the_exit_taken_and_batches_drop_rows(deployed):
    net, metadata, x, folder, _ = deployed
    runtime = open_runtime(folder)
    calls = _counting(runtime)
    _, exit_index = net.infer(x, metadata.infer_thresholds)
    first = int((exit_index == 0).nonzero()[0])
    runtime.predict(x[first : first + 1])
    assert calls == [("trunk0+exit0", 1)]  # the trunk and its exit in one call

    calls.clear()
    runtime.predict(x)
    left_before = [int((exit_index < k).sum()) for k in range(5)]
    sizes = dict(calls)
    assert list(sizes) == ["trunk0+exit0", "trunk1", "trunk2+exit2", "trunk3+exit3", "final"]
    assert sizes["trunk1"] == sizes["trunk2+exit2"] == len(x) - left_before[1]  # exit 1 is off
    assert sizes["trunk3+exit3"] == len(x) - left_before[3]
    assert sizes["final"] == len(x) - left_before[4]


def test_segments_alone_give_the_same_answers_with_more_calls(deployed):
    _, _, x, folder, _ = deployed
    fused = open_runtime(folder)
    plain = EarlyExitRuntime(fused.segments, fused.card, "onnx")
    assert [s.name for s in plain.plan] == [
        "trunk0", "exit0", "trunk1", "trunk2", "exit2", "trunk3", "exit3", "final"
    ]
    for runtime in (plain, plain.without_exits()):
        expected = fused.with_thresholds(runtime.card.thresholds).predict(x)
        assert all(torch.equal(a, b) for a, b in zip(runtime.predict(x), expected, strict=True))


def test_without_exits_is_the_final_head(deployed):
    net, _, x, folder, _ = deployed
    runtime = open_runtime(folder).without_exits()
    assert [s.name for s in runtime.plan] == ["network"]  # one call of the whole network
    predictions, exit_index = runtime.predict(x[:40])
    with torch.no_grad():
        assert torch.equal(predictions, net(x[:40])[-1].argmax(-1))
    assert set(exit_index.tolist()) == {4}
    assert runtime.card.average_macs([0, 0, 0, 0, 40]) == pytest.approx(runtime.card.macs_no_exits)


def test_bad_backend_provider_and_paths_are_one_line_errors(deployed, tmp_path):
    _, _, _, folder, checkpoint = deployed
    cases = [
        (lambda: open_runtime(folder, backend="tensorrt"), "unknown runtime backend"),
        (lambda: open_runtime(folder, providers=["NoSuchProvider"]), "is not available here"),
        (lambda: open_runtime(checkpoint, providers=["CPUExecutionProvider"]), "onnx backend"),
        (lambda: open_runtime(tmp_path), "has no manifest.json"),
        (lambda: open_runtime(tmp_path / "x.safetensors"), "does not exist"),
    ]
    for call, expected in cases:
        with pytest.raises(UserError) as err:
            call()
        assert expected in str(err.value) and "\n" not in str(err.value)


def test_bench_cli_refuses_a_foreign_folder_with_one_line(tmp_path):
    (tmp_path / "manifest.json").write_text('{"format": "keras"}')
    result = subprocess.run(
        [sys.executable, "-m", "aebnas.runtime", "bench", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "not an aebnas export manifest" in result.stderr

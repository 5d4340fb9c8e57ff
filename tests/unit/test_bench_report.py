"""``make bench`` rewrites its own sections of docs/benchmarks.md and keeps the other commands'."""

from __future__ import annotations

from tools.bench import read_replica, report


def test_a_rerun_replaces_its_own_sections_and_keeps_the_others_in_place() -> None:
    first = report.document([], {"cpu": "2"}, {"run": "1"}, [["## Images", "", "old figures", ""]])
    first += "\n## Merkle log\n\nwritten by bench.merkle_log\n"
    second = report.document([], {"cpu": "2"}, {"run": "2"}, [["## Images", "", "new figures", ""]], first)
    assert "new figures" in second
    assert "old figures" not in second
    assert second.count("written by bench.merkle_log") == 1
    assert second.count("## Machine") == second.count("## Notes") == 1
    assert second.index("## Images") < second.index("## Merkle log") < second.index("## Notes")


def test_the_read_replica_section_alone_replaces_itself_before_the_notes() -> None:
    document = "# Benchmarks\n\n## Images\n\nphotos\n\n## Notes\n\n- a note\n"
    first = read_replica.with_section(document, read_replica.section([], None, "no wrk"))
    assert first.index("## Images") < first.index(read_replica.HEADING) < first.index("## Notes")
    second = read_replica.with_section(first, read_replica.section([], None, "still no wrk"))
    assert "still no wrk" in second
    assert "Not measured: no wrk" not in second
    assert second.count(read_replica.HEADING) == 1
    assert second.endswith("## Notes\n\n- a note\n")

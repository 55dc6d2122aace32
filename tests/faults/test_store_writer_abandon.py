"""A stop that gives up a hung disk (monitord/storestop.py) abandons the store's writer
thread in its job. Should the disk answer while the process still lives, the thread must
neither run the jobs queued behind the hung one (the stop already said they are lost, and
the main thread no longer coordinates with it) nor report to the event loop (gone or
going). A real writer thread; the hung job waits on an event the way a hung fsync waits
for the disk."""

from __future__ import annotations

import threading

from monitord.store.writer import StoreWriter


def test_an_abandoned_writer_runs_and_reports_nothing_more_when_the_disk_answers() -> None:
    writer = StoreWriter("test-writer")
    inside, disk = threading.Event(), threading.Event()
    ran: list[str] = []

    def hung() -> str:
        inside.set()
        disk.wait(30)
        ran.append("hung")
        return "committed"

    first = writer.submit(hung)
    later = writer.submit(lambda: ran.append("later"))
    assert inside.wait(10)
    assert not writer.stop(0.2)  # the stop's bound: the job does not return
    assert writer.alive
    disk.set()  # the disk answers after all
    assert writer.stop(10)  # the thread ended
    assert ran == ["hung"]  # the hung job ended; nothing queued behind it ran
    assert not first.done() and not later.done()  # and nothing was reported
    assert writer.submit(lambda: None).exception() is not None  # nor taken any more

"""Spotify's pacing window belongs to the app: a run that follows another within 30 s starts with
that run's requests in its window, so back-to-back exports of a household never burst."""

from __future__ import annotations

from test_client import FakeTime

from spotify_exporter.pacing import RequestPacer


def test_a_run_that_follows_another_keeps_to_the_window_they_share() -> None:
    time = FakeTime()
    first = RequestPacer(10, 30.0, clock=time.clock, sleep=time.sleep)
    sent = []
    for _ in range(10):
        first.wait_turn()
        sent.append(time.now)
        time.now += 0.5
    time.now += 2.0  # the next account's export starts two seconds later, in a new process
    handed_over = first.recent_ages()
    assert len(handed_over) == 10 and handed_over == sorted(handed_over, reverse=True)
    second = RequestPacer(10, 30.0, clock=time.clock, sleep=time.sleep, earlier_ages=handed_over)
    for _ in range(10):
        second.wait_turn()
        sent.append(time.now)
        time.now += 0.5
    for start in sent:
        assert sum(1 for t in sent if start <= t < start + 30) <= 10
    assert sent[10] >= sent[0] + 30  # the second run waited for the first one's requests to leave the window


def test_requests_older_than_the_window_are_not_handed_over() -> None:
    time = FakeTime()
    pacer = RequestPacer(10, 30.0, clock=time.clock, sleep=time.sleep, earlier_ages=[45.0, 31.0, 29.0, -1.0])
    assert pacer.recent_ages() == [29.0]
    assert sum(pacer.wait_turn() for _ in range(9)) == 0
    assert pacer.wait_turn() > 0  # the tenth request of this window waits for the handed-over one to age out

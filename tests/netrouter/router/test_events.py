"""The event hub: committed events reach every watcher in order; a slow one overflows."""

from __future__ import annotations

from netrouter.client.types import PLACED, RELEASED, PlacementEvent
from netrouter.router.events import EventHub
from tests.helpers.factories import placement


def _event(event_id: int, kind: str = PLACED) -> PlacementEvent:
    placed = placement(f"p{event_id}", "alpha", workload_id=f"w{event_id}", created_at=1000.0)
    return PlacementEvent(
        event_id=event_id, kind=kind, placement=placed, from_site_id="", at=1000.0
    )


async def test_every_watcher_gets_every_event_in_commit_order() -> None:
    """Two subscriptions each receive the published events in the order published."""
    hub = EventHub()
    first, second = hub.subscribe(), hub.subscribe()
    hub.publish([_event(1), _event(2, RELEASED)])
    for sub in (first, second):
        got = [await sub.get(), await sub.get()]
        assert [e.event_id for e in got if e is not None] == [1, 2]
    assert hub.last_event_id == 2
    assert hub.watchers == 2


async def test_a_slow_watcher_overflows_without_blocking_the_publisher() -> None:
    """A full queue marks its watcher overflowed; others and the publisher carry on."""
    hub = EventHub(queue_size=2)
    slow, fast = hub.subscribe(), hub.subscribe()
    hub.publish([_event(1), _event(2)])
    assert [(await fast.get()) is not None for _ in range(2)] == [True, True]
    hub.publish([_event(3)])
    assert slow.overflowed and not fast.overflowed
    event = await fast.get()
    assert event is not None and event.event_id == 3


async def test_recover_clears_the_overflow_and_what_was_queued() -> None:
    """After recover() the watcher starts clean: the next event is the next published."""
    hub = EventHub(queue_size=1)
    sub = hub.subscribe()
    hub.publish([_event(1), _event(2)])
    assert sub.overflowed
    sub.recover()
    assert not sub.overflowed
    hub.publish([_event(3)])
    event = await sub.get()
    assert event is not None and event.event_id == 3


async def test_close_ends_every_watch_even_a_full_one() -> None:
    """close() hands each watcher the end marker, dropping what a full queue held."""
    hub = EventHub(queue_size=1)
    sub = hub.subscribe()
    hub.publish([_event(1)])
    hub.close()
    assert await sub.get() is None


def test_an_unsubscribed_watcher_gets_nothing_more() -> None:
    """unsubscribe() removes the watcher: events past its queue's size do not overflow it."""
    hub = EventHub(queue_size=1)
    sub = hub.subscribe()
    hub.unsubscribe(sub)
    hub.publish([_event(1), _event(2)])
    assert hub.watchers == 0
    assert not sub.overflowed


async def test_close_ends_an_overflowed_watch_too() -> None:
    """A watcher that overflowed still gets the end marker (it must not catch up instead
    and then wait for events that never come)."""
    hub = EventHub(queue_size=1)
    sub = hub.subscribe()
    hub.publish([_event(1), _event(2)])
    assert sub.overflowed
    hub.close()
    assert not sub.overflowed
    assert await sub.get() is None


async def test_a_watch_subscribing_after_close_ends_at_once() -> None:
    """Once closed (the router is stopping), a new subscription holds only the end."""
    hub = EventHub()
    hub.close()
    sub = hub.subscribe()
    assert await sub.get() is None

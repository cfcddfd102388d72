"""Place inference replicas, follow what happens to them, and ask for a rebalance.

    netrouter serve --config examples/router.toml &      # plus site agents, or: netrouter demo
    python examples/clients/place_and_watch.py --target 127.0.0.1:50051

Prints each placement with its cost and explanation, then every placement event (a site going
down moves its work: "moved"), and finally the moves a rebalance would make (a dry run).
Stop it with Ctrl-C; run it again with --after EVENT_ID to resume where it stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from netrouter.client.errors import RouterError
from netrouter.client.router_client import RouterClient
from netrouter.client.types import Workload


async def main(target: str, after: int, seconds: float) -> None:
    replicas = [
        Workload(
            id=f"chat-replica-{i}",
            origin_region="csj",
            demands={"H100": 8, "A100": 16, "Ascend910B": 16},
            duration_h=1.0,
            latency_slo_ms=12.0,
            priority=2,
            labels={"service": "chat", "example": "place_and_watch"},
        )
        for i in range(4)
    ]
    async with RouterClient(target) as router:
        try:
            result = await router.place(replicas)
        except RouterError as exc:
            print(f"not placed: {exc}")
        else:
            for p in result.placements:
                print(
                    f"{p.workload_id} → {p.site_id}: {p.devices} {p.accelerator_model}, "
                    f"{p.cost_per_hour_yuan:.2f} 元/h ({p.explanation})"
                )
            print(f"solve {result.solve.status}, gap {result.solve.gap:.4%}")

        async def follow() -> None:
            async for event in router.watch(after_event_id=after):
                where = f"{event.from_site_id} → " if event.from_site_id else ""
                print(
                    f"#{event.event_id} {event.kind}: {event.placement.workload_id} "
                    f"{where}{event.placement.site_id} {event.reason}"
                )

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(follow(), seconds)
        plan = await router.rebalance()  # a dry run: nothing moves
        print(f"rebalance would make {len(plan.moves)} moves saving {plan.saving_yuan:.2f} 元")
        for move in plan.moves[:10]:
            print(f"  {move.placement_id}: {move.from_site_id} → {move.to_site_id}: {move.reason}")
        # Only what this script placed (its label), and only if it placed anything.
        mine = await router.list_placements(labels={"example": "place_and_watch"})
        if mine:
            await router.release([p.placement_id for p in mine])
        print(f"released {len(mine)} chat replicas")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="127.0.0.1:50051")
    parser.add_argument("--after", type=int, default=0, help="resume after this event id")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to follow events")
    args = parser.parse_args()
    asyncio.run(main(args.target, args.after, args.seconds))

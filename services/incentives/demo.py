"""Default rule sets shipped as data (services/incentives/data/*.json), published for the demo."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from . import rulesets
from .models import RuleSet
from .schemas import RuleSetCreate

DATA = Path(__file__).parent / "data"


async def load_demo(session: AsyncSession) -> dict[str, int]:
    """Loads each default rule set once (idempotent: a scheme that has any rule set is skipped)."""
    loaded = 0
    for path in sorted(DATA.glob("*.json")):
        data = RuleSetCreate.model_validate(json.loads(path.read_text(encoding="utf-8")))
        if (await session.exec(select(RuleSet).where(RuleSet.scheme == data.scheme))).first() is not None:
            continue
        created = await rulesets.create_ruleset(session, data=data)
        await rulesets.publish_ruleset(session, ruleset_id=created.id)
        loaded += 1
    return {"rulesets": loaded}

"""Default rule sets shipped as data (services/incentives/data/*.json), published for the demo."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.problems import InvalidInput

from . import rulesets
from .models import RuleSet
from .schemas import RuleSetCreate

DATA = Path(__file__).parent / "data"


def _current(ruleset: RuleSet) -> bool:
    try:
        rulesets.validate_rules(ruleset.scheme, ruleset.rules)
    except InvalidInput:
        return False
    return True


async def load_demo(session: AsyncSession) -> dict[str, int]:
    """Loads each default rule set once (idempotent: a scheme that has a rule set of the current
    shape is skipped; one with only rule sets of an older shape gets the default as a new version)."""
    loaded = 0
    for path in sorted(DATA.glob("*.json")):
        data = RuleSetCreate.model_validate(json.loads(path.read_text(encoding="utf-8")))
        existing = (await session.exec(select(RuleSet).where(RuleSet.scheme == data.scheme))).all()
        if any(_current(r) for r in existing):
            continue
        created = await rulesets.create_ruleset(session, data=data)
        await rulesets.publish_ruleset(session, ruleset_id=created.id)
        loaded += 1
    return {"rulesets": loaded}

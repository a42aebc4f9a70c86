"""The CePO method's tunable parameters: one frozen, validated model.

Defaults are the CePO paper's: three candidates, three plans each (up to six planning
attempts), absolute rating decided by the ratings, and per-step temperatures and token
limits. Every field is honoured by the step it names; no step borrows another step's
settings. The presets in ``config/presets/`` set every field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

RatingType = Literal["absolute", "binary", "blind", "pairwise", "majority"]
SelectionRule = Literal["rating", "majority", "pool", "pool_judges"]

_MAX_TOKENS_LIMIT = 131_072


def _temperature(default: float, what: str) -> Any:
    return Field(default=default, ge=0.0, le=2.0, description=f"Sampling temperature of {what}")


def _max_tokens(default: int, what: str) -> Any:
    return Field(default=default, ge=1, le=_MAX_TOKENS_LIMIT, description=f"Token limit of {what}")


class CePOConfig(BaseModel):
    """Parameters of one CePO run.

    ``planning_n`` plan+execute attempts (one call each without ``plan_step``) must
    succeed per candidate; attempts cut off by their token limit (or failed) are replaced
    one for one, up to ``planning_m`` attempts in all. ``diversity_temperature``
    defaults to 0.7: the approaches step is asked for fundamentally different ideas, so
    it samples more freely than planning.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    bestofn_n: int = Field(default=3, ge=1, le=16, description="Candidates compared at the end")
    planning_n: int = Field(
        default=3, ge=1, le=16, description="Successful plans wanted per candidate"
    )
    planning_m: int = Field(
        default=6, ge=1, le=32, description="Planning attempts allowed per candidate"
    )
    bestofn_rating_type: RatingType = "absolute"
    selection_rule: SelectionRule = "rating"
    plan_diversity: bool = False
    plan_step: bool = Field(
        default=True,
        description="Each attempt writes a plan, then carries it out (two calls); off, an "
        "attempt answers the client's conversation as it stands (one call, at the "
        "execution step's temperature and limit)",
    )
    direct_on_disagreement: bool = Field(
        default=False,
        description="A candidate whose executions state different answers (or one states "
        "none, where one is wanted) answers the client's question directly instead of "
        "refining them",
    )
    keep_execution_majority: bool = Field(
        default=False,
        description="A final answer that states another answer than most of the candidate's "
        "executions (more than half, at least two) is written once more from an execution "
        "that states theirs, and replaced when the new one does",
    )
    keep_execution_plurality: bool = Field(
        default=False,
        description="As keep_execution_majority, with the executions' plurality answer (more "
        "of them state it than any other answer, at least two) in place of more than half; "
        "either option turns the check on",
    )
    rating_model: str | None = Field(
        default=None, min_length=1, description="Model of the rating calls (default: the run's)"
    )
    upstream_reasoning_effort: str | None = Field(
        default=None,
        pattern=r"^[a-z]{1,16}$",
        description="reasoning_effort sent with every upstream call (e.g. low, medium, high)",
    )

    planning_temperature: float = _temperature(0.55, "step 1 (plan)")
    execution_temperature: float = _temperature(0.25, "step 2 (execute)")
    refine_temperature: float = _temperature(0.1, "step 3 (refine)")
    final_temperature: float = _temperature(0.0, "step 4 (final answer)")
    rating_temperature: float = _temperature(0.1, "rating")
    diversity_temperature: float = _temperature(0.7, "the approaches step")

    planning_max_tokens: int = _max_tokens(4096, "step 1 (plan)")
    execution_max_tokens: int = _max_tokens(4096, "step 2 (execute)")
    refine_max_tokens: int = _max_tokens(4096, "step 3 (refine)")
    final_max_tokens: int = _max_tokens(4096, "step 4 (final answer)")
    rating_max_tokens: int = _max_tokens(4096, "rating")
    diversity_max_tokens: int = _max_tokens(4096, "the approaches step")

    @model_validator(mode="after")
    def _attempts_cover_plans(self) -> CePOConfig:
        if self.planning_m < self.planning_n:
            raise ValueError(
                f"planning_m ({self.planning_m}) must be >= planning_n ({self.planning_n})"
            )
        if self.plan_diversity and not self.plan_step:
            raise ValueError("plan_diversity seeds the plans, so it needs plan_step")
        return self

    def merged(self, overrides: Mapping[str, Any]) -> CePOConfig:
        """This config with ``overrides`` applied, validated as a whole.

        Raises :class:`pydantic.ValidationError` naming each unknown key or bad value.
        """
        return CePOConfig.model_validate({**self.model_dump(), **dict(overrides)})

"""The SMAX map table: SMAC map names, SMAC episode limits, and our own scenarios.

Pure Python so that validating `env_args.map_name` never imports JAX. Episode limits are SMAC's
(`smac/env/starcraft2/maps/smac_maps.py`); the smacv2_* maps use SMACv2's `10gen_*` limit (400).
`2m_vs_1z` and `8m_vs_9m` are SMAC maps that jaxmarl does not ship: we build them from SMAX's unit
types (allies first, then enemies).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# SMAX unit type indices (jaxmarl 0.2.0): 0 marine, 1 marauder, 2 stalker, 3 zealot, 4 zergling, 5 hydralisk.
MARINE, ZEALOT = 0, 3


@dataclass(frozen=True)
class SMAXMap:
    """One map: SMAC's episode limit, team sizes, and our unit types (None: jaxmarl's own scenario)."""

    episode_limit: int
    n_allies: int
    n_enemies: int
    unit_types: tuple[int, ...] | None = None


SMAX_MAPS: dict[str, SMAXMap] = {
    "3m": SMAXMap(60, 3, 3),
    "8m": SMAXMap(120, 8, 8),
    "25m": SMAXMap(150, 25, 25),
    "2s3z": SMAXMap(120, 5, 5),
    "3s5z": SMAXMap(150, 8, 8),
    "5m_vs_6m": SMAXMap(70, 5, 6),
    "10m_vs_11m": SMAXMap(150, 10, 11),
    "27m_vs_30m": SMAXMap(180, 27, 30),
    "3s5z_vs_3s6z": SMAXMap(170, 8, 9),
    "3s_vs_5z": SMAXMap(250, 3, 5),
    "6h_vs_8z": SMAXMap(150, 6, 8),
    "smacv2_5_units": SMAXMap(400, 5, 5),
    "smacv2_10_units": SMAXMap(400, 10, 10),
    "smacv2_20_units": SMAXMap(400, 20, 20),
    # Our scenarios (SMAC maps that jaxmarl lacks).
    "2m_vs_1z": SMAXMap(150, 2, 1, (MARINE, MARINE, ZEALOT)),
    "8m_vs_9m": SMAXMap(120, 8, 9, (MARINE,) * 17),
}


def known_smax_maps() -> list[str]:
    return sorted(SMAX_MAPS)


def smax_scenario(map_name: str) -> Any:
    """The jaxmarl `Scenario` for a map (imports JAX; call only when building the env)."""
    import jax.numpy as jnp
    from jaxmarl.environments.smax import Scenario, map_name_to_scenario

    spec = SMAX_MAPS[map_name]
    if spec.unit_types is None:
        return map_name_to_scenario(map_name)
    return Scenario(jnp.array(spec.unit_types, dtype=jnp.uint8), spec.n_allies, spec.n_enemies, False, False)

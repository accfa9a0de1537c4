"""SMAC maps on jaxmarl's SMAX, batched inside JAX: one `jit(vmap(step))` call steps B envs.

What we add to `HeuristicEnemySMAX` to make it SMAC-like:
- no auto-reset (`step_env` plus our own reset), SMAC's episode limit per map;
- rewards scaled so that the maximum episode return is `reward_scale_rate` (SMAX's maximum is
  1 for all enemy damage + `won_battle_bonus`, read from the env);
- `battle_won` (all enemies dead and an ally alive), dead-unit counts and SMAC's stats counters;
- `obs_last_action` appends the one-hot last actions of *all* agents to every agent's observation
  (SMAC puts them in the ally features instead), `state_last_action` appends them to the state;
- every state feature scaled into [0, 1] as in SMAC (SMAX's raw world state holds positions in
  0..32, unit type indices, and weapon cooldowns that decrease without bound), same layout;
- a time-out is terminal; with `continuing_episode` it also sets `info["episode_limit"] = True`.
Inactive envs are frozen with `jnp.where` on the active mask, so their state, keys, observations
and masks stay exactly as they were.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from envs.args import SC2Args
from envs.multiagentenv import EnvInfo, MultiAgentEnv
from envs.smax_scenarios import SMAX_MAPS, smax_scenario
from envs.stats import BattleStats
from envs.vec_env import VecEnv, checked_step_inputs

NOOP_ACTION = 4  # SMAX's "stop": the only action a dead agent has
MOVE_ACTIONS = (0, 1, 2, 3)  # SMAX's four movement directions
OUT_FIELDS = ("reward", "done", "won", "draw", "timeout", "dead_allies", "dead_enemies")
_JAX_CONFIGURED = False


def configure_jax() -> None:
    """CPU unless the user chose a platform, and a persistent compile cache in a user dir.

    Compiling a map x batch shape costs 2-12 s; the cache makes later processes pay about 1 s.
    """
    global _JAX_CONFIGURED
    if _JAX_CONFIGURED:
        return
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    if not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        cache = Path(os.environ.get("JAX_CACHE_DIR", Path.home() / ".cache" / "mazero_jax")).expanduser()
        try:
            cache.mkdir(parents=True, exist_ok=True)
            jax.config.update("jax_compilation_cache_dir", str(cache))
        except OSError:
            pass  # read-only home: run without the cache
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _JAX_CONFIGURED = True


def _quiet_import_smax() -> Any:
    """Imports jaxmarl's SMAX without side effects on this process's output.

    `import jaxmarl` prints to stdout, and its MABrax module (tried at import, needs brax) resets
    `sys.stdout`/`sys.stderr` to the process originals, which would silently undo sacred's or
    pytest's output capture. We block that module during the import (it is unused here), restore
    the streams, and swallow the print.
    """
    saved = sys.stdout, sys.stderr
    blocked = "jaxmarl.environments.mabrax" not in sys.modules
    if blocked:
        sys.modules["jaxmarl.environments.mabrax"] = None  # type: ignore[assignment]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            from jaxmarl.environments.smax import HeuristicEnemySMAX
    finally:
        if blocked and sys.modules.get("jaxmarl.environments.mabrax", 0) is None:
            del sys.modules["jaxmarl.environments.mabrax"]
        sys.stdout, sys.stderr = saved
    return HeuristicEnemySMAX


@dataclass(frozen=True)
class _CoreKey:
    map_name: str
    episode_limit: int
    attack_mode: str
    enemy_shoots: bool
    obs_last_action: bool
    state_last_action: bool
    reward_scale: bool
    reward_scale_rate: float


class _SMAXCore:
    """The jitted reset/step for one configuration, shared by every env instance that uses it
    (jit caches one executable per batch size, so building a second env costs no compile)."""

    def __init__(self, key: _CoreKey) -> None:
        configure_jax()
        import jax
        import jax.numpy as jnp

        heuristic_enemy_smax = _quiet_import_smax()
        env = heuristic_enemy_smax(
            scenario=smax_scenario(key.map_name),
            max_steps=key.episode_limit,
            attack_mode=key.attack_mode,
            enemy_shoots=key.enemy_shoots,
        )
        self.env = env
        self.n_agents = env.num_allies
        self.n_enemies = env.num_enemies
        self.n_actions = env.num_movement_actions + env.num_enemies
        max_return = 1.0 + float(env.won_battle_bonus)  # all enemy health + the win bonus
        self.reward_factor = key.reward_scale_rate / max_return if key.reward_scale else 1.0
        last_dim = self.n_agents * self.n_actions
        self.obs_shape = env.obs_size + (last_dim if key.obs_last_action else 0)
        self.state_shape = env.state_size + (last_dim if key.state_last_action else 0)
        agents = env.agents
        n, n_act = self.n_agents, self.n_actions
        n_units = env.num_allies + env.num_enemies
        n_feat = len(env.own_features)
        max_type = float(len(env.unit_type_names) - 1)

        def normalised_state(world_state: jax.Array, st: Any) -> jax.Array:
            """SMAX's world state with every feature in [0, 1]: positions / map size, weapon
            cooldown / the unit type's cooldown (SMAX's raw value decreases without bound),
            unit type indices / the largest index. Same layout and size as SMAX's."""
            units = world_state[: n_units * n_feat].reshape(n_units, n_feat)
            types = st.state.unit_types
            cooldown = jnp.clip(st.state.unit_weapon_cooldowns / env.unit_type_weapon_cooldowns[types], 0.0, 1.0)
            units = units.at[:, 1].divide(env.map_width).at[:, 2].divide(env.map_height)
            units = units.at[:, 3].set(cooldown * st.state.unit_alive)
            teams = world_state[n_units * n_feat : n_units * (n_feat + 1)]
            return jnp.concatenate([units.reshape(-1), teams, types.astype(jnp.float32) / max_type])

        def observe(obs: dict, st: Any, last: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
            agent_obs = jnp.stack([obs[a] for a in agents]).astype(jnp.float32)
            state = normalised_state(obs["world_state"].astype(jnp.float32), st)
            flat_last = last.reshape(-1)
            if key.obs_last_action:
                agent_obs = jnp.concatenate([agent_obs, jnp.broadcast_to(flat_last, (n, n * n_act))], axis=1)
            if key.state_last_action:
                state = jnp.concatenate([state, flat_last])
            avail_d = env.get_avail_actions(st)
            avail = jnp.stack([avail_d[a] for a in agents]).astype(jnp.int32)
            return agent_obs, state, avail

        def pack(carry: dict, out: jax.Array) -> jax.Array:
            # Everything the host reads after a call, as one float32 vector per env: a single
            # device->host transfer instead of one per array (the numbers are small integers or
            # float32 already, so nothing is lost).
            parts = [carry["obs"].reshape(-1), carry["state"], carry["avail"].reshape(-1).astype(jnp.float32), out]
            return jnp.concatenate(parts)

        def strong(carry: dict) -> dict:
            # Reset and step must return identical types (weak types included), else the first
            # step after a reset retraces and compiles the step a second time.
            return jax.tree.map(lambda x: jax.lax.convert_element_type(x, x.dtype), carry)

        def reset_one(rng: jax.Array) -> tuple[dict, jax.Array]:
            rng, sub = jax.random.split(rng)
            obs, st = env.reset(sub)
            last = jnp.zeros((n, n_act), jnp.float32)
            agent_obs, state, avail = observe(obs, st, last)
            carry = strong({"rng": rng, "env": st, "last": last, "obs": agent_obs, "state": state, "avail": avail})
            return carry, pack(carry, jnp.zeros((len(OUT_FIELDS),), jnp.float32))

        def step_one(carry: dict, actions: jax.Array, active: jax.Array) -> tuple[dict, jax.Array]:
            rng, sub = jax.random.split(carry["rng"])
            obs, st, rewards, _, _ = env.step_env(sub, carry["env"], {a: actions[i] for i, a in enumerate(agents)})
            last = jax.nn.one_hot(actions, n_act, dtype=jnp.float32)
            agent_obs, state, avail = observe(obs, st, last)
            new = {"rng": rng, "env": st, "last": last, "obs": agent_obs, "state": state, "avail": avail}
            carry = strong(jax.tree.map(lambda x, y: jnp.where(active, x, y), new, carry))
            alive = st.state.unit_alive
            allies_dead = ~jnp.any(alive[:n])
            enemies_dead = ~jnp.any(alive[n:])
            # SMAX's own `done` tests the time limit before incrementing the step counter (one step
            # late), so the episode end is recomputed here with SMAC's rule.
            done = allies_dead | enemies_dead | (st.state.step >= key.episode_limit)
            out = {
                "reward": rewards[agents[0]] * self.reward_factor,
                "done": done,
                "won": enemies_dead & ~allies_dead,
                "draw": enemies_dead & allies_dead,
                "timeout": done & ~allies_dead & ~enemies_dead,
                "dead_allies": jnp.sum(~alive[:n]),
                "dead_enemies": jnp.sum(~alive[n:]),
            }
            out_vec = jnp.stack([jnp.asarray(out[f], jnp.float32) for f in OUT_FIELDS]) * active
            return carry, pack(carry, out_vec)

        self.reset = jax.jit(jax.vmap(reset_one))
        self.step = jax.jit(jax.vmap(step_one))
        self.sizes = (n * self.obs_shape, self.state_shape, n * n_act, len(OUT_FIELDS))
        self.seed_keys = jax.vmap(jax.random.PRNGKey)


_CORES: dict[_CoreKey, _SMAXCore] = {}


def _core_for(args: SC2Args) -> _SMAXCore:
    key = _CoreKey(
        map_name=args.map_name,
        episode_limit=args.episode_limit or SMAX_MAPS[args.map_name].episode_limit,
        attack_mode=args.attack_mode,
        enemy_shoots=args.enemy_shoots,
        obs_last_action=args.obs_last_action,
        state_last_action=args.state_last_action,
        reward_scale=args.reward_scale,
        reward_scale_rate=float(args.reward_scale_rate),
    )
    if key not in _CORES:
        _CORES[key] = _SMAXCore(key)
    return _CORES[key]


class SMAXVecEnv(VecEnv):
    """B SMAX envs in one stacked JAX state; each env has its own PRNG key from its seed."""

    def __init__(self, args: SC2Args, seeds: Sequence[int]) -> None:
        if args.backend != "smax":
            raise ValueError(f"SMAXVecEnv needs backend 'smax', got '{args.backend}'")
        if len(seeds) == 0:
            raise ValueError("SMAXVecEnv needs at least one seed")
        self._core = _core_for(args)
        self._continuing = args.continuing_episode
        self.num_envs = len(seeds)
        self._info = EnvInfo(
            n_agents=self._core.n_agents,
            n_actions=self._core.n_actions,
            obs_shape=self._core.obs_shape,
            state_shape=self._core.state_shape,
            episode_limit=args.episode_limit or SMAX_MAPS[args.map_name].episode_limit,
            backend="smax",
            noop_action=NOOP_ACTION,
            move_actions=MOVE_ACTIONS,
        )
        self._stats = BattleStats()
        self._carry: dict[str, Any] = {}
        self.reset(seeds)

    def _keys_from_seeds(self, seeds: Sequence[int]) -> Any:
        # Legacy uint32 PRNG keys; seeds are folded into [0, 2**31) so that JAX without x64 accepts them.
        return self._core.seed_keys(np.array([int(s) % 2**31 for s in seeds], dtype=np.int32))

    def reset(self, seeds: Sequence[int] | None = None) -> None:
        if seeds is not None and len(seeds) != self.num_envs:
            raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} environments")
        keys = self._keys_from_seeds(seeds) if seeds is not None else self._carry["rng"]
        self._carry, packed = self._core.reset(keys)
        self._unpack(packed)

    def branch(self, env_index: int, copies: int, seed: int) -> "SMAXVecEnv":
        """A new vec env of `copies` environments that all continue from env `env_index`'s current
        state, each with its own PRNG stream drawn from `seed`: Monte Carlo estimates from one
        state (e.g. the value of each joint action a search considered). This env is untouched."""
        import jax
        import jax.numpy as jnp

        if not 0 <= env_index < self.num_envs or copies < 1:
            raise ValueError(f"branch needs 0 <= env_index < {self.num_envs} and copies >= 1, "
                             f"got env_index={env_index}, copies={copies}")
        twin = object.__new__(SMAXVecEnv)
        twin.__dict__.update(self.__dict__)
        twin.num_envs = copies
        twin._stats = BattleStats()
        carry = jax.tree.map(lambda x: jnp.repeat(x[env_index:env_index + 1], copies, axis=0), self._carry)
        carry["rng"] = self._keys_from_seeds([seed * copies + i for i in range(copies)])
        twin._carry = carry
        twin._obs = np.repeat(self._obs[env_index:env_index + 1], copies, axis=0)
        twin._state = np.repeat(self._state[env_index:env_index + 1], copies, axis=0)
        twin._avail = np.repeat(self._avail[env_index:env_index + 1], copies, axis=0)
        return twin

    def _unpack(self, packed: Any) -> dict[str, np.ndarray]:
        """Splits the packed host copy into writable obs/state/avail arrays and the step outputs."""
        flat = np.asarray(packed)
        n_obs, n_state, n_avail, _ = self._core.sizes
        info = self._info
        self._obs = flat[:, :n_obs].reshape(self.num_envs, info.n_agents, info.obs_shape).copy()
        self._state = flat[:, n_obs:n_obs + n_state].copy()
        end = n_obs + n_state + n_avail
        self._avail = flat[:, n_obs + n_state:end].reshape(self.num_envs, info.n_agents, info.n_actions).astype(np.int64)
        return {f: flat[:, end + i] for i, f in enumerate(OUT_FIELDS)}

    def step(
        self, actions: np.ndarray, active: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
        actions, active = checked_step_inputs(actions, active, self.num_envs, self._info.n_agents)
        act = actions.astype(np.int32)
        if np.any((act < 0) | (act >= self._info.n_actions)):
            raise ValueError(f"actions must lie in [0, {self._info.n_actions})")
        chosen = np.take_along_axis(self._avail, act[..., None], axis=2)[..., 0]
        bad = active[:, None] & (chosen == 0)
        if bad.any():
            b, i = map(int, np.argwhere(bad)[0])
            raise ValueError(f"env {b}, agent {i}: action {int(act[b, i])} is not available "
                             f"(avail {self._avail[b, i].tolist()})")
        self._carry, packed = self._core.step(self._carry, act, active)
        out = self._unpack(packed)
        rewards = np.array(out["reward"], dtype=np.float32)
        terminated = np.array(out["done"], dtype=bool)
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for b in np.flatnonzero(active):
            info: dict[str, Any] = {
                "battle_won": bool(out["won"][b]),
                "dead_allies": int(out["dead_allies"][b]),
                "dead_enemies": int(out["dead_enemies"][b]),
            }
            if terminated[b]:
                timeout = bool(out["timeout"][b])
                self._stats.record(won=info["battle_won"], draw=bool(out["draw"][b]), timeout=timeout)
                if timeout and self._continuing:
                    info["episode_limit"] = True
            infos[b] = info
        return rewards, terminated, infos

    def get_obs(self) -> np.ndarray:
        return self._obs.copy()

    def get_state(self) -> np.ndarray:
        return self._state.copy()

    def get_avail_actions(self) -> np.ndarray:
        return self._avail.copy()

    def get_env_info(self) -> EnvInfo:
        return self._info

    def get_stats(self) -> dict[str, Any]:
        return self._stats.as_dict()


class SMAXEnv(MultiAgentEnv):
    """One SMAX env: a batch of one, so that it steps exactly like each member of a SMAXVecEnv."""

    def __init__(self, args: SC2Args, seed: int) -> None:
        self._vec = SMAXVecEnv(args, [seed])
        self._active = np.ones(1, dtype=bool)

    def reset(self, seed: int | None = None) -> None:
        self._vec.reset(None if seed is None else [seed])

    def step(self, actions: np.ndarray) -> tuple[float, bool, dict[str, Any]]:
        rewards, terminated, infos = self._vec.step(np.asarray(actions)[None], self._active)
        return float(rewards[0]), bool(terminated[0]), infos[0]

    def get_obs(self) -> np.ndarray:
        return self._vec.get_obs()[0]

    def get_state(self) -> np.ndarray:
        return self._vec.get_state()[0]

    def get_avail_actions(self) -> np.ndarray:
        return self._vec.get_avail_actions()[0]

    def get_env_info(self) -> EnvInfo:
        return self._vec.get_env_info()

    def get_stats(self) -> dict[str, Any]:
        return self._vec.get_stats()

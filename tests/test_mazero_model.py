"""MAZero network: shapes with dead agents, masking, permutation equivariance, ablation paths."""
import itertools

import pytest
import torch

from modules.mazero.config import MAZeroModelConfig
from modules.mazero.model import MAZeroModel, argmax_random_ties
from modules.mazero.output import MAZeroOutput
from search.model_protocol import ModelOutput

OBS, AGENTS, ACTIONS = 12, 4, 5


def small_model(seed: int = 0, **options) -> MAZeroModel:
    torch.manual_seed(seed)
    settings = dict(obs_dim=OBS, n_agents=AGENTS, n_actions=ACTIONS, hidden_dim=32,
                    representation_layers=(32, 32), dynamics_layers=(32, 32),
                    communication_heads=4, communication_ff_dim=32, projection_hidden=32,
                    projection_dim=16, prediction_hidden=8)
    settings.update(options)
    return MAZeroModel(MAZeroModelConfig(**settings)).eval()


def batch(seed: int = 1, size: int = 5):
    generator = torch.Generator().manual_seed(seed)
    obs = torch.randn(size, AGENTS, OBS, generator=generator)
    actions = torch.randint(0, ACTIONS, (size, AGENTS), generator=generator)
    mask = torch.tensor([[1, 1, 1, 1], [1, 0, 1, 1], [0, 0, 0, 0], [0, 1, 0, 0], [1, 1, 0, 1]]).bool()[:size]
    return obs, actions, mask


VARIANTS = [dict(centralised_heads=h, communication=c, share_parameters=s)
            for h, c, s in itertools.product(["concat", "pooled"], [True, False], [True, False])]


@pytest.mark.parametrize("options", VARIANTS)
def test_shapes_with_dead_agents_and_no_nan(options):
    model = small_model(zero_init_outputs=False, **options).train()  # dropout on: the training path
    obs, actions, mask = batch()
    root = model.initial_inference(obs, mask)
    assert isinstance(root, ModelOutput) and isinstance(root, MAZeroOutput) and root.reward is None
    assert root.latent.shape == (5, AGENTS, 32)
    assert root.value.shape == (5,) and root.policy_logits.shape == (5, AGENTS, ACTIONS)
    step = model.recurrent_inference(root.latent, actions, mask)
    assert step.latent.shape == (5, AGENTS, 32) and step.reward.shape == (5,) and step.value.shape == (5,)
    assert step.reward_logits.shape == (5, 11) and step.value_logits.shape == (5, 11)
    projected = model.project(step.latent, with_prediction_head=True)
    expected = (5, 16) if options["centralised_heads"] == "concat" else (5, AGENTS, 16)
    assert projected.shape == expected
    loss = sum(t.float().pow(2).sum() for t in (step.latent, step.reward, step.value, step.policy_logits, projected))
    loss.backward()
    for tensor in (root.value, step.latent, step.reward, step.value, step.policy_logits, projected):
        assert bool(torch.isfinite(tensor).all())
    assert all(bool(torch.isfinite(p.grad).all()) for p in model.parameters() if p.grad is not None)


def test_default_paper_sizes():
    model = MAZeroModel(MAZeroModelConfig(obs_dim=30, n_agents=3, n_actions=9)).eval()
    obs = torch.randn(2, 3, 30)
    mask = torch.ones(2, 3, dtype=torch.bool)
    step = model.recurrent_inference(model.initial_inference(obs, mask).latent, torch.zeros(2, 3, dtype=torch.long), mask)
    assert step.latent.shape == (2, 3, 128) and step.value_logits.shape == (2, 11)
    assert len(model.communication.encoder.layers) == 3


def test_zero_init_gives_uniform_policy_and_zero_value_and_reward():
    model = small_model()
    obs, actions, mask = batch()
    root = model.initial_inference(obs, mask)
    step = model.recurrent_inference(root.latent, actions, mask)
    for output in (root, step):
        assert torch.allclose(output.policy_logits, torch.zeros_like(output.policy_logits))
        assert torch.allclose(output.value, torch.zeros(5), atol=1e-6)
    assert torch.allclose(step.reward, torch.zeros(5), atol=1e-6)


@pytest.mark.parametrize("heads", ["concat", "pooled"])
def test_representation_and_policy_are_permutation_equivariant(heads):
    model = small_model(zero_init_outputs=False, centralised_heads=heads)
    obs, _, mask = batch()
    permutation = torch.tensor([2, 0, 3, 1])
    root = model.initial_inference(obs, mask)
    permuted = model.initial_inference(obs[:, permutation], mask[:, permutation])
    assert torch.allclose(permuted.latent, root.latent[:, permutation], atol=1e-5)
    assert torch.allclose(permuted.policy_logits, root.policy_logits[:, permutation], atol=1e-5)
    if heads == "pooled":
        assert torch.allclose(permuted.value, root.value, atol=1e-5)


def test_pooled_model_without_index_encoding_is_equivariant_through_dynamics():
    model = small_model(zero_init_outputs=False, centralised_heads="pooled", agent_index_encoding=False)
    obs, actions, mask = batch()
    permutation = torch.tensor([3, 1, 0, 2])
    root = model.initial_inference(obs, mask)
    step = model.recurrent_inference(root.latent, actions, mask)
    permuted = model.recurrent_inference(root.latent[:, permutation], actions[:, permutation], mask[:, permutation])
    assert torch.allclose(permuted.latent, step.latent[:, permutation], atol=1e-5)
    assert torch.allclose(permuted.reward, step.reward, atol=1e-5)
    assert torch.allclose(permuted.value, step.value, atol=1e-5)


def test_agent_index_encoding_breaks_symmetry_between_identical_agents():
    model = small_model(zero_init_outputs=False)
    latent = torch.randn(1, 1, 32).expand(1, AGENTS, 32)
    same_action = torch.zeros(1, AGENTS, dtype=torch.long)
    step = model.recurrent_inference(latent, same_action, torch.ones(1, AGENTS, dtype=torch.bool))
    assert not torch.allclose(step.latent[0, 0], step.latent[0, 1])


@pytest.mark.parametrize("heads", ["concat", "pooled"])
def test_dead_agents_do_not_reach_alive_agents_through_attention(heads):
    model = small_model(zero_init_outputs=False, centralised_heads=heads)
    obs, actions, _ = batch(size=2)
    mask = torch.tensor([[True, False, True, True], [False, True, True, False]])
    latent = model.represent(obs)
    base = model.recurrent_inference(latent, actions, mask)
    noisy_latent, other_actions = latent.clone(), actions.clone()
    noisy_latent[~mask] = torch.randn(int((~mask).sum()), 32)
    other_actions[~mask] = (other_actions[~mask] + 1) % ACTIONS
    changed = model.recurrent_inference(noisy_latent, other_actions, mask)
    assert torch.allclose(changed.latent[mask], base.latent[mask], atol=1e-5)
    assert torch.allclose(changed.policy_logits[mask], base.policy_logits[mask], atol=1e-5)
    if heads == "pooled":
        assert torch.allclose(changed.value, base.value, atol=1e-5)
        assert torch.allclose(changed.reward, base.reward, atol=1e-5)


def test_all_dead_row_is_finite_in_attention():
    model = small_model(zero_init_outputs=False)
    latent = torch.randn(3, AGENTS, 32)
    actions = torch.zeros(3, AGENTS, dtype=torch.long)
    nobody = torch.zeros(3, AGENTS, dtype=torch.bool)
    step = model.recurrent_inference(latent, actions, nobody)
    assert bool(torch.isfinite(step.latent).all()) and bool(torch.isfinite(step.value).all())


@pytest.mark.parametrize("communication", [True, False])
def test_communication_switch_controls_cross_agent_influence(communication):
    model = small_model(zero_init_outputs=False, communication=communication)
    latent = torch.randn(2, AGENTS, 32)
    actions = torch.zeros(2, AGENTS, dtype=torch.long)
    mask = torch.ones(2, AGENTS, dtype=torch.bool)
    other = actions.clone()
    other[:, 3] = 2  # only agent 3 changes its action
    base = model.recurrent_inference(latent, actions, mask).latent
    changed = model.recurrent_inference(latent, other, mask).latent
    others_unchanged = torch.allclose(base[:, :3], changed[:, :3], atol=1e-6)
    assert others_unchanged == (not communication)
    assert not torch.allclose(base[:, 3], changed[:, 3])
    assert (model.communication.encoder is None) == (not communication)


def test_without_parameter_sharing_agents_have_their_own_weights():
    shared = small_model(zero_init_outputs=False)
    separate = small_model(zero_init_outputs=False, share_parameters=False)
    obs = torch.randn(1, 1, OBS).expand(2, AGENTS, OBS)
    same = shared.represent(obs)
    different = separate.represent(obs)
    assert torch.allclose(same[:, 0], same[:, 1])
    assert not torch.allclose(different[:, 0], different[:, 1])
    logits = separate.predict(different, torch.ones(2, AGENTS, dtype=torch.bool))[1]
    assert logits.shape == (2, AGENTS, ACTIONS)
    shared_count = sum(p.numel() for p in shared.representation.parameters())
    separate_count = sum(p.numel() for p in separate.representation.parameters())
    assert separate_count == AGENTS * shared_count


@pytest.mark.parametrize("from_next", [False, True])
def test_reward_head_reads_the_paper_or_the_reference_latent(from_next):
    model = small_model(zero_init_outputs=False, reward_from_next_latent=from_next)
    obs, actions, mask = batch()
    latent = model.represent(obs)
    next_latent, reward_logits = model.dynamics(latent, actions, mask)
    one_hot = torch.nn.functional.one_hot(actions, ACTIONS).float()
    state = next_latent if from_next else latent
    assert torch.allclose(reward_logits, model.reward_head(torch.cat([state, one_hot], -1), mask), atol=1e-6)


def test_dynamics_is_residual():
    """Reference invariant 19: if the dynamics MLP outputs 0, the next latent is the current one."""
    model = small_model(zero_init_outputs=False)
    final_norm = model.dynamics_network.body[-1]
    torch.nn.init.zeros_(final_norm.weight)
    torch.nn.init.zeros_(final_norm.bias)
    obs, actions, mask = batch()
    latent = model.represent(obs)
    assert torch.allclose(model.dynamics(latent, actions, mask)[0], latent)


def test_predict_policy_is_local_masked_argmax():
    model = small_model(zero_init_outputs=False)
    obs, _, mask = batch()
    avail = torch.ones(5, AGENTS, ACTIONS, dtype=torch.bool)
    logits = model.initial_inference(obs, mask).policy_logits
    best = logits.argmax(-1)
    avail[0, 0, best[0, 0]] = False
    actions = model.predict_policy(obs, mask, avail)
    expected = logits.masked_fill(~avail, float("-inf")).argmax(-1)
    assert torch.equal(actions, expected)
    other = obs.clone()
    other[:, 1:] = torch.randn_like(other[:, 1:])
    assert torch.equal(model.predict_policy(other, mask, avail)[:, 0], actions[:, 0])


def test_predict_policy_breaks_ties_at_random_among_available_actions():
    model = small_model()  # zero-init: every logit ties
    obs = torch.randn(2_000, AGENTS, OBS)
    avail = torch.zeros(2_000, AGENTS, ACTIONS, dtype=torch.bool)
    avail[..., 1] = avail[..., 3] = True
    actions = model.predict_policy(obs, torch.ones(2_000, AGENTS, dtype=torch.bool), avail,
                                   generator=torch.Generator().manual_seed(0))
    assert set(actions.unique().tolist()) == {1, 3}
    share_of_ones = (actions == 1).float().mean().item()
    assert 0.45 < share_of_ones < 0.55


def test_argmax_random_ties_without_ties_is_argmax():
    scores = torch.tensor([[0.1, 0.7, 0.2], [3.0, -1.0, 2.0]])
    assert argmax_random_ties(scores).tolist() == [1, 0]


def test_eval_is_deterministic_and_train_uses_dropout():
    model = small_model(zero_init_outputs=False)
    obs, actions, mask = batch()
    latent = model.represent(obs)
    first = model.recurrent_inference(latent, actions, mask).latent
    assert torch.equal(first, model.recurrent_inference(latent, actions, mask).latent)
    model.train()
    torch.manual_seed(3)
    noisy = model.recurrent_inference(latent, actions, mask).latent
    assert not torch.allclose(noisy, first)


def test_decoded_scalars_are_fp32_under_autocast():
    model = small_model(zero_init_outputs=False)
    obs, actions, mask = batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        root = model.initial_inference(obs, mask)
        step = model.recurrent_inference(root.latent, actions, mask)
    assert root.value.dtype == torch.float32 and step.reward.dtype == torch.float32


def test_invalid_config_raises():
    with pytest.raises(ValueError):
        MAZeroModelConfig(obs_dim=4, n_agents=2, n_actions=3, centralised_heads="sum")
    with pytest.raises(ValueError):
        MAZeroModelConfig(obs_dim=4, n_agents=2, n_actions=3, hidden_dim=30, communication_heads=8)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu_with_masks_and_autocast():
    """Device placement of every helper (index encoding, attention mask, supports, tie noise)."""
    model = small_model(zero_init_outputs=False, centralised_heads="pooled")
    obs, actions, mask = batch()
    cpu_step = model.recurrent_inference(model.represent(obs), actions, mask)
    gpu = model.cuda()
    obs_gpu, actions_gpu, mask_gpu = obs.cuda(), actions.cuda(), mask.cuda()
    gpu_step = gpu.recurrent_inference(gpu.represent(obs_gpu), actions_gpu, mask_gpu)
    assert torch.allclose(gpu_step.latent.cpu(), cpu_step.latent, atol=1e-3)
    assert torch.allclose(gpu_step.value.cpu(), cpu_step.value, atol=1e-3)
    with torch.autocast("cuda", dtype=torch.float16):
        half = gpu.recurrent_inference(gpu.represent(obs_gpu), actions_gpu, mask_gpu)
    assert half.value.dtype == torch.float32 and bool(torch.isfinite(half.latent).all())
    generator = torch.Generator(device="cuda").manual_seed(0)
    chosen = gpu.predict_policy(obs_gpu, mask_gpu, torch.ones(5, AGENTS, ACTIONS, dtype=torch.bool, device="cuda"),
                                generator=generator)
    assert chosen.device.type == "cuda" and chosen.shape == (5, AGENTS)

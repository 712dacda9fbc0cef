"""DDPM: the forward process, posterior, schedules, samplers, the bound, inpainting, guidance,
and the messages for bad input (issue 10). Tiny nets and short chains: CPU, a few seconds."""
from __future__ import annotations

import math

import pytest
import torch

from genlab.data import load_dataset
from genlab.errors import GenlabError
from genlab.model import DataSpec
from genlab.nn.diffusion import (Diffusion, bound_timesteps, discretized_gaussian_log_likelihood, guided,
                                 make_betas, normal_kl, prior_kl, sample_loop, timesteps)
from genlab.nn.unet import UNet, timestep_embedding
from genlab.registry import build

SPEC = DataSpec(num_classes=10)
TINY = {"width": 8, "mults": (1, 2), "blocks": 1, "timesteps": 40, "default_steps": 10}


def tiny(**kw):
    torch.manual_seed(0)
    model = build("ddpm", {**TINY, **kw}, SPEC).eval()
    with torch.no_grad():  # the output conv starts at zero: give the net a non-trivial output
        for p in model.net.out.parameters():
            p.normal_(0, 0.05)
    return model


@pytest.fixture(scope="module")
def digits():
    return load_dataset("mnist", "test").images[:6]


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ----- schedules -----------------------------------------------------------------------------
def test_linear_schedule_end_points():
    b = make_betas("linear", 1000)
    assert b.dtype == torch.float64 and len(b) == 1000
    assert b[0].item() == pytest.approx(1e-4) and b[-1].item() == pytest.approx(0.02)
    assert make_betas("linear", 500)[0].item() == pytest.approx(2e-4)  # scaled by 1000/T (Improved DDPM code)


def test_cosine_schedule_end_points():
    d = Diffusion(make_betas("cosine", 1000))
    s = 0.008
    f0 = math.cos(s / (1 + s) * math.pi / 2) ** 2
    assert d.alpha_bar[0].item() == pytest.approx(math.cos((1 / 1000 + s) / (1 + s) * math.pi / 2) ** 2 / f0)
    assert d.betas.max().item() <= 0.999 and d.betas[-1].item() == pytest.approx(0.999)
    assert d.alpha_bar[-1].item() < 1e-6  # x_T is (nearly) pure noise
    assert (d.betas[1:] >= d.betas[:-1] - 1e-12).all()


def test_linear_schedule_ends_in_noise():
    d = Diffusion.from_schedule("linear", 1000)
    assert d.alpha_bar[-1].item() < 1e-4 and d.alpha_bar[0].item() == pytest.approx(1 - 1e-4)


@pytest.mark.parametrize("T,steps", [(1000, 1), (1000, 2), (1000, 50), (1000, 1000), (7, 3)])
def test_timesteps_run_from_T_minus_1_down(T, steps):
    ts = timesteps(T, steps)
    assert len(ts) == steps == len(set(ts)) and ts[0] == T - 1 and ts == sorted(ts, reverse=True)
    if steps > 1:
        assert ts[-1] == 0


# ----- the forward process and the posterior --------------------------------------------------
def test_forward_process_has_its_closed_form_moments():
    """x_t = q_sample(x0, t, eps) over many eps: mean sqrt(abar_t) x0, variance 1 - abar_t."""
    d = Diffusion.from_schedule("linear", 1000)
    x0 = torch.tensor([-1.0, -0.3, 0.5, 1.0]).view(4, 1, 1, 1).expand(4, 1, 200, 200).contiguous()
    for t in (0, 100, 500, 999):
        xt = d.q_sample(x0, t, torch.randn(x0.shape, generator=gen(t)))
        ab = d.alpha_bar[t].item()
        mean, var = xt.flatten(1).mean(1), xt.flatten(1).var(1)
        n = 40_000
        torch.testing.assert_close(mean, math.sqrt(ab) * x0[:, 0, 0, 0], atol=5 * math.sqrt((1 - ab) / n), rtol=0)
        torch.testing.assert_close(var, torch.full((4,), 1 - ab), atol=5 * (1 - ab) * math.sqrt(2 / n), rtol=0)
        m, v = d.q_mean_variance(x0[:, :, :1, :1], t)
        torch.testing.assert_close(m.flatten(), math.sqrt(ab) * x0[:, 0, 0, 0])
        torch.testing.assert_close(v.flatten(), torch.full((4,), 1 - ab))


def test_posterior_matches_its_formulas():
    """beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t); mean = c0 x0 + ct x_t (DDPM Eq. 7)."""
    d = Diffusion.from_schedule("cosine", 100)
    g = gen(1)
    x0, xt = torch.randn(5, 1, 3, 3, generator=g).double(), torch.randn(5, 1, 3, 3, generator=g).double()
    t = torch.tensor([1, 2, 40, 98, 99])
    mean, var, logvar = d.q_posterior(x0, xt, t)
    for i, ti in enumerate(t.tolist()):
        b, ab, abp = d.betas[ti].item(), d.alpha_bar[ti].item(), d.alpha_bar[ti - 1].item()
        expect_mean = b * math.sqrt(abp) / (1 - ab) * x0[i] + (1 - abp) * math.sqrt(1 - b) / (1 - ab) * xt[i]
        torch.testing.assert_close(mean[i], expect_mean)
        assert var[i].flatten()[0].item() == pytest.approx(b * (1 - abp) / (1 - ab))
        assert logvar[i].flatten()[0].item() == pytest.approx(math.log(b * (1 - abp) / (1 - ab)))
    # t = 0: beta~_0 = 0, its log clipped to log beta~_1; the mean is x0 itself
    m0, v0, lv0 = d.q_posterior(x0, xt, torch.zeros(5, dtype=torch.long))
    torch.testing.assert_close(m0, x0)
    assert v0.abs().max().item() == 0 and lv0.flatten()[0].item() == pytest.approx(math.log(d.posterior_variance[1].item()))


def test_posterior_is_the_conditional_of_the_joint():
    """Monte Carlo: x_{t-1} ~ q(.|x0), x_t ~ q(x_t|x_{t-1}); regress x_{t-1} on x_t -> slope = c_t."""
    d = Diffusion.from_schedule("linear", 1000)
    t, n = 300, 400_000
    g = gen(2)
    x0 = torch.full((n,), 0.4, dtype=torch.float64)
    prev = d.alpha_bar[t - 1].sqrt() * x0 + (1 - d.alpha_bar[t - 1]).sqrt() * torch.randn(n, generator=g, dtype=torch.float64)
    xt = d.alphas[t].sqrt() * prev + d.betas[t].sqrt() * torch.randn(n, generator=g, dtype=torch.float64)
    slope = ((xt - xt.mean()) * (prev - prev.mean())).mean() / xt.var()
    resid = prev - slope * xt
    assert slope.item() == pytest.approx(d.posterior_coef_xt[t].item(), abs=2e-3)
    assert resid.var().item() == pytest.approx(d.posterior_variance[t].item(), rel=0.02)
    assert resid.mean().item() == pytest.approx(d.posterior_coef_x0[t].item() * 0.4, abs=2e-3)


def test_eps_and_v_predictions_give_back_x0_and_eps():
    d = Diffusion.from_schedule("linear", 100)
    g = gen(3)
    x0, eps = torch.randn(4, 1, 5, 5, generator=g), torch.randn(4, 1, 5, 5, generator=g)
    t = torch.tensor([0, 10, 50, 99])
    xt = d.q_sample(x0, t, eps)
    for pred in ("eps", "v"):
        x0_hat, eps_hat = d.x0_and_eps(d.target(x0, eps, t, pred), xt, t, pred)
        torch.testing.assert_close(x0_hat, x0, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(eps_hat, eps, atol=1e-4, rtol=1e-4)


# ----- samplers ------------------------------------------------------------------------------
def test_ddim_eta0_is_deterministic_and_draws_no_noise():
    m = tiny()
    z = m.prior(3, gen(0))
    a = m.decode(z, steps=7)
    b = m.sample(3, generator=gen(0), sampler="ddim", eta=0.0, steps=7)
    c = m.sample(3, generator=gen(0), sampler="ddim", eta=0.0, steps=7)
    assert torch.equal(b, c) and torch.equal(a, b)  # x_T is the only randomness: decode(z) is sample()
    d = m.sample(3, generator=gen(0), sampler="ddim", eta=0.5, steps=7)
    assert not torch.equal(b, d)


def test_ddim_eta1_all_steps_equals_ancestral_small_variance():
    """With all T steps, DDIM(eta = 1) and DDPM with sigma^2 = beta~ are the same transition
    (same mean and variance), so the same noise gives the same images (hence the same law)."""
    m = tiny()
    T = m.T
    a = m.sample(4, generator=gen(5), sampler="ddim", eta=1.0, steps=T)
    b = m.sample(4, generator=gen(5), sampler="ddpm", variance="small", steps=T)
    torch.testing.assert_close(a, b, atol=2e-5, rtol=0)
    c = m.sample(4, generator=gen(5), sampler="ddpm", variance="large", steps=T)
    assert (a - c).abs().max() > 1e-3  # the other variance choice really differs


def test_ancestral_chain_with_an_oracle_denoiser_recovers_the_data_law():
    """For data x0 ~ N(m, s^2) (per pixel), the exact eps-predictor is linear; DDPM-T with it must
    give samples with mean m and std s, DDIM-eta0 too (no clipping: a Gaussian is unbounded). DDIM
    on 20 of the 200 steps keeps the mean but is under-dispersed (its discretisation error)."""
    d = Diffusion.from_schedule("linear", 200)
    mu, s = 0.3, 0.5

    def oracle(x, t):  # E[eps | x_t] for Gaussian data
        ab = d.alpha_bar[t].item()
        var = ab * s ** 2 + 1 - ab
        return math.sqrt(1 - ab) * (x - math.sqrt(ab) * mu) / var

    g = gen(6)
    for sampler, steps in (("ddpm", 200), ("ddim", 200), ("ddim", 20)):
        x = torch.randn(20_000, 1, 1, 1, generator=g, dtype=torch.float64)
        *_, (out, _, _) = sample_loop(d, oracle, x, lambda shape: torch.randn(shape, generator=g, dtype=torch.float64),
                                      sampler=sampler, steps=steps, variance="small", clip=False)
        assert out.mean().item() == pytest.approx(mu, abs=0.02), sampler
        if steps == 200:
            assert out.std().item() == pytest.approx(s, abs=0.02), sampler
        else:
            assert 0.3 < out.std().item() < s


def test_sample_steps_frames_show_xt_and_x0_and_end_with_the_sample():
    m = tiny()
    frames = list(m.sample_steps(2, generator=gen(1), steps=10))
    assert len(frames) == 11 and all(f.shape == (2, 1, 28, 56) for f in frames)
    final = m.sample(2, generator=gen(1), steps=10)
    torch.testing.assert_close(frames[-1][..., :28], final)
    torch.testing.assert_close(frames[-1][..., 28:], final)
    assert len(list(m.sample_steps(1, generator=gen(1), steps=10, every=4))) == 4  # steps 0, 4, 8 + the end


def test_sample_steps_can_run_all_1000_steps():
    torch.manual_seed(0)
    m = build("ddpm", {"width": 8, "mults": (1,), "blocks": 1}, DataSpec()).eval()
    frames = m.sample_steps(1, generator=gen(0), sampler="ddpm", steps=1000, every=100)
    assert sum(1 for _ in frames) == 11


def test_guidance_zero_is_the_unconditional_model():
    m = tiny(conditional=True)
    uncond = m.sample(3, generator=gen(2), guidance=0.0)
    with_label = m.sample(3, generator=gen(2), guidance=0.0, label=7)
    assert torch.equal(uncond, with_label)
    # and the guided combination at scale 0 is exactly the no-label output, at 1 the labelled one
    x, t = torch.randn(3, 1, 28, 28, generator=gen(3)), 5
    y = torch.full((3,), 7)
    tt = torch.full((3,), t)
    with torch.no_grad():
        cond, free = m.net(x, tt, y), m.net(x, tt, None)
        torch.testing.assert_close(m.model_fn(y, 0.0)(x, t), free)
        torch.testing.assert_close(m.model_fn(y, 1.0)(x, t), cond)
        torch.testing.assert_close(m.model_fn(y, 3.0)(x, t), free + 3 * (cond - free))
    assert torch.equal(guided(cond, free, 0.0), free)


def test_labels_change_conditional_samples():
    m = tiny(conditional=True)
    with torch.no_grad():
        m.net.class_embed.weight.normal_(0, 1)
    a = m.sample(2, generator=gen(4), label=1, guidance=2.0)
    b = m.sample(2, generator=gen(4), label=8, guidance=2.0)
    assert not torch.equal(a, b)


# ----- inpainting ------------------------------------------------------------------------------
@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_completion_keeps_the_given_rows(digits, sampler):
    m = tiny()
    out = m.complete(digits[:3], 12, generator=gen(0), sampler=sampler, steps=8)
    assert out.shape == (3, 1, 28, 28) and out.min() >= -1 and out.max() <= 1
    assert torch.equal(out[:, :, :12], digits[:3, :, :12])
    assert not torch.equal(out[:, :, 12:], digits[:3, :, 12:])
    full = m.complete(digits[:2], 28, generator=gen(0), steps=4)
    assert torch.equal(full, digits[:2])


def test_completion_refuses_a_wrong_shape_and_rows(digits):
    m = tiny()
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        m.complete(torch.zeros(2, 1, 32, 32), 10)
    with pytest.raises(ValueError, match=r"keep_rows must be an integer in 0..28, got 29"):
        m.complete(digits[:1], 29)


def test_forward_noising_and_back(digits):
    m = tiny()
    x = digits[:2]
    assert torch.equal(m.add_noise(x, 0, gen(0)), m.add_noise(x, 0, gen(0)))
    near = m.add_noise(x, 0, gen(0))
    assert (near - x).std() < 0.06  # t = 0: beta_0 = 1e-4 * 1000/T = 0.0025, barely noised
    back = m.denoise(m.add_noise(x, 20, gen(1)), 20, generator=gen(2), steps=30)
    assert back.shape == x.shape  # steps capped at t + 1 = 21
    with pytest.raises(ValueError, match=r"t must be an integer in 0..39, got 40"):
        m.add_noise(x, 40)


# ----- the variational bound -------------------------------------------------------------------
def test_bound_decomposes_into_its_terms(digits):
    m = tiny(bound_steps=40)  # >= T - 1: the exact sum over every t
    x = digits[:3]
    terms = m.bound_terms(x, generator=gen(0))
    assert terms["kl"].shape == (3, m.T - 1) and torch.equal(terms["t"], torch.arange(1, m.T))
    assert (terms["kl"] >= -1e-6).all() and (terms["prior"] >= 0).all() and (terms["decoder"] > 0).all()
    lp = m.log_prob(x, generator=gen(0))
    total = terms["prior"] + terms["decoder"] + terms["kl"].sum(1)
    torch.testing.assert_close(lp.double(), -total, rtol=1e-6, atol=1e-3)
    # L_T in closed form: sum over pixels of KL(N(sqrt(ab) x, 1 - ab) || N(0, 1))
    ab = m.diffusion.alpha_bar[-1].item()
    closed = 0.5 * ((1 - ab) + ab * x.double() ** 2 - 1 - math.log(1 - ab)).flatten(1).sum(1)
    torch.testing.assert_close(terms["prior"], closed)
    torch.testing.assert_close(prior_kl(m.diffusion, x), closed)


def test_stratified_bound_is_unbiased_for_the_full_sum(digits):
    m = tiny()
    x = digits[:2]
    with torch.random.fork_rng():
        torch.manual_seed(0)
        full = torch.stack([m.log_prob(x, generator=gen(s), timesteps=m.T) for s in range(12)]).mean(0)
        est = torch.stack([m.log_prob(x, generator=gen(100 + s), timesteps=5) for s in range(60)]).mean(0)
    torch.testing.assert_close(est, full, rtol=0.03, atol=0)
    ts, ws = bound_timesteps(40, 5, gen(0))
    assert len(ts) == 5 and sum(ws) == 39 and all(1 <= t < 40 for t in ts)


def test_discretised_decoder_is_normalised():
    levels = torch.arange(256, dtype=torch.float64) / 127.5 - 1
    for mean, log_scale in ((0.0, -3.0), (0.9, -5.0), (-1.2, 0.5), (0.3, -9.0)):
        lp = discretized_gaussian_log_likelihood(levels, torch.full_like(levels, mean), torch.full_like(levels, log_scale))
        assert torch.logsumexp(lp, 0).item() == pytest.approx(0.0, abs=1e-9)
        assert torch.isfinite(lp).all()


def test_normal_kl_matches_monte_carlo():
    g = gen(7)
    m1, lv1, m2, lv2 = 0.3, math.log(0.5), -0.2, math.log(1.7)
    x = m1 + math.sqrt(0.5) * torch.randn(400_000, generator=g, dtype=torch.float64)
    logq = -0.5 * ((x - m1) ** 2 / 0.5 + lv1 + math.log(2 * math.pi))
    logp = -0.5 * ((x - m2) ** 2 / 1.7 + lv2 + math.log(2 * math.pi))
    kl = normal_kl(*(torch.tensor(v, dtype=torch.float64) for v in (m1, lv1, m2, lv2)))
    assert kl.item() == pytest.approx((logq - logp).mean().item(), abs=3e-3)


def test_log_prob_is_a_seeded_bound(digits):
    m = tiny()
    a, b = m.log_prob(digits[:2], generator=gen(1)), m.log_prob(digits[:2], generator=gen(1))
    assert torch.equal(a, b) and (a < 0).all() and type(m).log_prob_is_exact is False


# ----- training --------------------------------------------------------------------------------
@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_loss_trains_the_denoiser(digits, prediction):
    m = tiny(prediction=prediction, conditional=True).train()
    batch = {"image": digits, "label": torch.arange(6)}
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    torch.manual_seed(0)
    first = None
    for _ in range(30):
        loss, logs = m.loss(batch)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.isfinite(loss) and loss.item() < first


def test_time_embedding_reaches_every_residual_block():
    net = UNet(1, 1, width=8, mults=(1, 2), blocks=1)
    t_emb = timestep_embedding(torch.tensor([0, 999]), 8)
    assert t_emb.shape == (2, 8) and not torch.equal(t_emb[0], t_emb[1])
    from genlab.nn.unet import ResBlock
    blocks = [mod for mod in net.modules() if isinstance(mod, ResBlock)]
    x = torch.randn(1, 1, 28, 28)
    for b in blocks:
        b.emb.weight.grad = None
    net(x, torch.tensor([500])).square().sum().backward()
    assert all(b.emb.weight.grad is not None for b in blocks)


def test_odd_sizes_and_attention_work():
    torch.manual_seed(0)
    m = build("ddpm", {**TINY, "attention": True}, DataSpec(channels=3, height=13, width=17))
    assert m.sample(1, generator=gen(0), steps=2).shape == (1, 3, 13, 17)


# ----- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kw,message", [
    ({"steps": 0}, r"steps must be an integer in 1..40 \(the model's T\); got 0"),
    ({"steps": 41}, r"steps must be an integer in 1..40 \(the model's T\); got 41"),
    ({"eta": -0.1}, r"eta must lie in \[0, 1\].*got -0.1"),
    ({"eta": 1.5}, r"eta must lie in \[0, 1\].*got 1.5"),
    ({"label": 10}, r"label must be a class in 0..9.*got 10"),
    ({"label": -1}, r"label must be a class in 0..9.*got -1"),
    ({"sampler": "euler"}, r"sampler must be one of ddpm, ddim; got 'euler'"),
    ({"variance": "learned"}, r"variance must be one of large, small"),
    ({"guidance": -1.0}, r"guidance must be a finite scale >= 0"),
    ({"temperature": 0.5}, r"ddpm has no control temperature"),
])
def test_bad_sampling_arguments_are_refused_by_name(kw, message):
    m = tiny(conditional=True)
    with pytest.raises(ValueError, match=message):
        m.sample(1, generator=gen(0), **kw)


def test_declared_controls_check_ranges():
    m = tiny(conditional=True)
    names = [c.name for c in m.controls()]
    assert names == ["sampler", "steps", "eta", "variance", "clip", "guidance", "label", "every"]
    with pytest.raises(ValueError, match=r"steps must lie in \[1, 40\]"):
        m.check_controls("sample", {"steps": 0})
    with pytest.raises(ValueError, match=r"label must be one of None, 0, 1"):
        m.check_controls("sample", {"label": 11})
    knobs = m.check_controls("sample", {"steps": "5", "label": "3"})
    assert knobs["steps"] == 5 and knobs["label"] == 3
    assert m.sample(1, generator=gen(0), **knobs).shape == (1, 1, 28, 28)
    assert [c.name for c in m.controls_for("decode")] == ["steps", "guidance", "label"]


def test_unconditional_model_refuses_labels_and_guidance():
    m = tiny()
    with pytest.raises(ValueError, match="unconditional"):
        m.sample(1, label=3)
    with pytest.raises(ValueError, match="guidance needs a class-conditional model"):
        m.sample(1, guidance=2.0)
    assert "guidance" not in [c.name for c in m.controls()]


def test_bad_configs_are_refused():
    with pytest.raises(GenlabError, match="schedule must be one of linear, cosine"):
        build("ddpm", {**TINY, "schedule": "quadratic"}, SPEC)
    with pytest.raises(GenlabError, match="prediction must be one of eps, v"):
        build("ddpm", {**TINY, "prediction": "x0"}, SPEC)
    with pytest.raises(GenlabError, match="conditional = true needs a labelled data set"):
        build("ddpm", {**TINY, "conditional": True}, DataSpec())


def test_capabilities():
    m = tiny(conditional=True)
    assert {"sample", "sample_steps", "complete", "log_prob", "latent"} <= m.capabilities
    assert m.latent_dim == 784 and m.prior(2, gen(0)).shape == (2, 784)
    assert m.decode(m.prior(2, gen(0)), steps=3, label=4, guidance=2.0).shape == (2, 1, 28, 28)

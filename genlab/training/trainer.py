"""The one training loop every family shares.

The model supplies phases (parameters, optimiser settings, a loss); the
trainer owns everything else: device and precision, optimisers and their
learning-rate schedules, EMA, gradient averaging across ranks, checkpoints,
logs, progress and sample grids. Before every step it calls the model's
`advance(step)`, and rebuilds the optimisers of the phases the model names
(a progressive GAN's new resolution).

Random numbers: the weights are initialised from `seed` alone (the same on
every rank); the noise a model draws while training comes from the global RNG,
which each rank reseeds with its own offset, so the ranks' fake batches
differ. Every rank's RNG and data-order state goes into the checkpoint.

Losses stay on the device between log points (no per-step host sync); at each
log point they are checked for NaN/Inf *before* anything is saved, so a
diverged run never overwrites the last good checkpoint.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import re
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import torch

from genlab.atomic import write_atomically
from genlab.data import load_dataset
from genlab.errors import CheckpointError, GenlabError, TrainingDiverged
from genlab.grids import save_grid
from genlab.model import DataSpec, GenerativeModel, Phase
from genlab.options import fresh_module_options, resumable_options
from genlab.registry import build, check_fits_in_memory, get_family, load_weights, make_config, resolve_checkpoint
from genlab.training import distributed as D
from genlab.training.batches import make_batches
from genlab.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint, warm_start_record
from genlab.training.config import Recipe, make_optim, parse_recipe, recipe_changes, recipe_to_toml
from genlab.training.schedules import phase_schedules
from genlab.training.devices import autocast_dtype, compile_for, pick_device, precision_warning
from genlab.training.ema import EMA
from genlab.training.loggers import MetricsLog

GRID_SEED = 1234  # fixed noise for sample grids, so grids compare across steps
RANK_SEED_STRIDE = 1_000_003  # rank r draws its training noise from seed + r * stride


class Trainer:
    def __init__(self, recipe: Recipe, out: str | Path, resume: bool = False, progress: bool = True,
                 on_event: Callable[[dict], None] | None = None, stop: threading.Event | None = None,
                 dry_run: bool = False):
        """dry_run: make every check a real run makes before its first step (options, data,
        model, optimisers, schedules, batches, the checkpoint to resume), then stop: nothing is
        written."""
        tc = recipe.train
        tc.validate()
        self.recipe, self.tc, self.out = recipe, tc, Path(out)
        self.on_event, self.stop, self.progress = on_event, stop, progress
        self.changes: dict[str, tuple] = {}  # what a resume changed in the run's recipe
        if tc.threads > 0:
            torch.set_num_threads(tc.threads)

        self.device = pick_device(tc.device)
        self.dist = D.init_from_env(self.device.type)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        self.amp_dtype = autocast_dtype(tc.precision, self.device)
        if (warning := precision_warning(self.amp_dtype, self.device)) and self.dist.is_main:
            print(f"genlab: {warning}", file=sys.stderr)

        state = self._latest_state() if resume else None
        if state is not None:
            self._check_same_model(state)
        start = self._start_state(tc.init_from) if state is None and tc.init_from else None
        torch.manual_seed(tc.seed)  # same initial weights on every rank and every run
        self.data = data = load_dataset(recipe.data, "train", root=recipe.data_root,
                                            image_size=recipe.image_size)
        if start is not None:
            self._check_start_data(start)
        stored = state or start
        config = make_config(recipe.family, self._resumed_config(stored) if stored else recipe.model)
        check_fits_in_memory(recipe.family, config, data.spec, self.device)
        self.model: GenerativeModel = build(recipe.family, config, data.spec).to(self.device)
        self.model.optim = make_optim(get_family(recipe.family), recipe.optim)
        if self.dist.enabled:
            D.broadcast_parameters(self.model)  # (already equal: same seed) then own noise per rank
            torch.manual_seed(tc.seed + RANK_SEED_STRIDE * self.dist.rank)
        # fp16 needs loss scaling on any device (a CPU's autocast has its GradScaler too); bf16 has fp32's range
        self._grad_scaling = self.amp_dtype == torch.float16
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        if state is not None:  # the stage the run had reached decides which phases exist
            self.model.load_state_dict(state["model"])
            self.model.load_step_state(state.get("step_state") or {})
        elif start is not None:
            self._lay_in_weights_of(start)
        self._bind(set())
        self.schedules = phase_schedules(recipe.schedule, [p.name for p in self.phases])
        for name, sched in self.schedules.items():
            if sched.kind == "linear_decay" and sched.decay_steps > sched.decay_length(tc.steps):
                print(f"genlab: [schedule] decay_steps {sched.decay_steps} is longer than the {tc.steps}-step run "
                      f"after its warm-up; phase {name} decays over its last {sched.decay_length(tc.steps)} steps",
                      file=sys.stderr)
        self.ema = None
        if tc.ema_decay > 0:
            if not self.model.ema_modules:  # say so rather than train without the EMA the recipe asked for
                raise GenlabError(f"ema_decay = {tc.ema_decay}, but family {self.model.family!r} keeps no EMA of "
                                  "its weights; set ema_decay = 0")
            self.ema = EMA(self.model, self.model.ema_modules, tc.ema_decay)
            if start is not None and start.get("ema"):  # a shipped file's EMA is folded into its weights
                self.ema.load_state_dict({k: v.float() for k, v in start["ema"].items()})
        try:
            self.batches = make_batches(data, tc.batch_size, self.device, tc.seed, self.dist, tc.num_workers,
                                        (tc.augment_shift, tc.augment_rotate, tc.augment_elastic))
        except ValueError as e:
            raise GenlabError(str(e)) from None
        self.step, self.train_seconds = 0, 0.0
        # what lies behind the weights this run began from (kept by a resume); None: random weights
        self.warm_start = (state.get("warm_start") if state is not None
                           else warm_start_record(start, start["path"], self._same_data(start)) if start is not None
                           else None)
        # the EMA's warm-up goes on from the steps behind the weights (see warm_start_record)
        self.ema_steps_before = int((self.warm_start or {}).get("ema_steps_before", 0))
        if state is not None:
            self._restore(state)
        self.forward = compile_for(self.model, self.device) if tc.compile else self.model
        self._pending: list[tuple[int, str, torch.Tensor, dict]] = []
        self.log = None
        if dry_run:
            return
        if self.dist.is_main:
            try:
                self.out.mkdir(parents=True, exist_ok=True)
                (self.out / "recipe.toml").write_text(recipe_to_toml(recipe))
            except OSError as e:
                raise GenlabError(f"cannot write the run folder {self.out}: {e.strerror or e}") from None
            for stale in self.out.glob(f".{CHECKPOINT_NAME}.*.tmp"):  # left by a write that was killed
                print(f"genlab: removed {stale}, a checkpoint write that never finished", file=sys.stderr)
                stale.unlink(missing_ok=True)
        self.log = MetricsLog(self.out, resume_step=self.step if state is not None else None) \
            if self.dist.is_main else None
        if start is not None and self.log is not None:
            self.log.write(0, {"event": "init_from", "path": str(start["path"]), "from_step": int(start["step"])})
        if self.changes and self.log is not None:
            self.log.write(self.step, {"event": "resume", "changed": {k: list(v) for k, v in self.changes.items()}})
            print("genlab: resumed with " + ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in self.changes.items()),
                  file=sys.stderr)

    def _bind(self, reset: set[str]) -> None:
        """(Re)read the model's phases; build optimisers for new phases and for those in `reset`
        (fresh state: Adam's moments start again), keep the others, drop vanished ones."""
        self.phases: list[Phase] = self.model.bind_phases()
        names = [p.name for p in self.phases]
        self._all_params = list(self.model.parameters())
        self._phase_params = {p.name: set(map(id, p.params)) for p in self.phases}
        for p in self.phases:
            if p.name in reset or p.name not in self.optimizers:
                self.optimizers[p.name] = p.optimizer.build(p.params)
                self.scalers[p.name] = torch.amp.GradScaler(self.device.type, enabled=self._grad_scaling)
        for gone in set(self.optimizers) - set(names):
            del self.optimizers[gone], self.scalers[gone]
        self.base_lrs = {p.name: p.optimizer.lr for p in self.phases}

    # ----- resume ---------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.out / CHECKPOINT_NAME

    def _latest_state(self) -> dict | None:
        if not self.checkpoint_path.exists():
            print(f"genlab: nothing to resume in {self.out}; starting a new run", file=sys.stderr)
            return None
        return load_checkpoint(self.checkpoint_path)

    def _check_same_model(self, state: dict) -> None:
        if state["family"] != self.recipe.family:
            raise CheckpointError(f"{self.checkpoint_path} holds a {state['family']} run, not {self.recipe.family}")
        if state.get("recipe"):
            self.changes = recipe_changes(parse_recipe(state["recipe"], "the stored recipe"), self.recipe)
        changed = self._network_changes(state)
        if changed:
            free = self._resumable()
            raise GenlabError(f"cannot resume {self.checkpoint_path} with a different model config "
                              f"({', '.join(f'{k}: {a} -> {b}' for k, a, b in changed)}); use a new --out"
                              + (f" (a resume may change only {', '.join(sorted(free))})" if free else ""))

    def _network_changes(self, state: dict) -> list[tuple[str, object, object]]:
        """(option, stored, recipe's) for each [model] value the recipe sets that would change the
        stored network (loss weights and schedules, `_resumable`, may change)."""
        wanted = dataclasses.asdict(make_config(self.recipe.family, self.recipe.model))
        saved = dataclasses.asdict(make_config(self.recipe.family, state["config"]))
        free = self._resumable(state)
        return [(k, saved[k], wanted[k]) for k in wanted
                if k in self.recipe.model and wanted[k] != saved[k] and k not in free]

    def _start_state(self, name_or_path: str) -> dict:
        """The checkpoint `init_from` names. Its network is the run's: the recipe's [model] keeps
        only the loss weights (`_resumable`), and says so where it asked for another network."""
        path = resolve_checkpoint(name_or_path)
        state = load_checkpoint(path)
        if state["family"] != self.recipe.family:
            raise CheckpointError(f"{path} holds a {state['family']} model, not {self.recipe.family}")
        unused = self._network_changes(state)
        if unused:
            print(f"genlab: the network is {path}'s: " + ", ".join(f"{k} {a} (not {b})" for k, a, b in unused),
                  file=sys.stderr)
        self.recipe.model = self._resumed_config(state)  # the run's stored recipe names the network it trains
        state["path"] = path
        return state

    def _same_data(self, start: dict) -> bool:
        """Whether this run trains on the pictures `start` was trained on. For a family whose weights
        do not depend on the image size, a set and its other size are the same pictures
        ('shapes3d' and 'shapes3d-64': the same scenes rendered at 32 and 64 px)."""
        theirs, mine = DataSpec.from_dict(start["data_spec"]).name, self.data.spec.name
        if get_family(self.recipe.family).any_image_size:
            theirs, mine = (re.sub(r"-\d+$", "", name) for name in (theirs, mine))
        return theirs == mine

    def _check_start_data(self, start: dict) -> None:
        """The run's images must have the shape `start` was trained on (checked before a network is
        built for them); a class count the network depends on shows as weights that do not fit."""
        want, have = DataSpec.from_dict(start["data_spec"]), self.data.spec
        if get_family(self.recipe.family).any_image_size and want.channels == have.channels:
            return  # e.g. a GRAF field trained at 32 px goes on at 64 px
        if (want.channels, want.height, want.width) != (have.channels, have.height, have.width):
            source = parse_recipe(start["recipe"], "the stored recipe").data if start.get("recipe") else None
            raise GenlabError(f"cannot start from {start['path']}: it was trained on {want.channels}-channel "
                              f"{want.height}x{want.width} images{f' (data {source!r})' if source else ''}, and data {self.recipe.data!r} gives "
                              f"{have.channels}-channel {have.height}x{have.width}; pick data of that shape "
                              f"(e.g. --image-size {want.height} for a folder of pictures)")

    def _lay_in_weights_of(self, start: dict) -> None:
        """Lay in the weights of `start` (fp32 here even from an fp16 shipped file). What the file
        left out (a shipped GAN's discriminator) keeps this run's fresh initial weights."""
        dropped = start.get("dropped_modules") or ()
        load_weights(self.model, start["model"], self.recipe.family, dropped)
        self.model.load_step_state(start.get("step_state") or {})
        print(f"genlab: starting from the weights of {start['path']} (step {start['step']})"
              + (f"; {', '.join(dropped)} left out of it start(s) fresh" if dropped else ""), file=sys.stderr)

    def _resumable(self, state: dict | None = None) -> set[str]:
        """The [model] options a resume or a warm start from `state` may change: loss weights and
        schedules, not the network; and the shape of a module `state` left out (a shipped GAN's D)."""
        config_class = get_family(self.recipe.family).Config
        return resumable_options(config_class) | fresh_module_options(config_class, (state or {}).get("dropped_modules"))

    def _resumed_config(self, state: dict) -> dict:
        """The stored network config, with the loss weights the recipe may change on a resume."""
        free = self._resumable(state)
        return {**state["config"], **{k: v for k, v in self.recipe.model.items() if k in free}}

    def _restore(self, state: dict) -> None:
        """Weights and step state were laid in before the phases were bound; now the rest."""
        decay = {p.name: p.optimizer.weight_decay for p in self.phases}
        for name, opt in self.optimizers.items():
            if name in state["optimizers"]:
                opt.load_state_dict(state["optimizers"][name])  # its stored lr is reset by the next step's schedule
                for group in opt.param_groups:  # the recipe's weight decay, not the stored one: a resume may change it
                    group["weight_decay"] = decay[name]
        for name, scaler in self.scalers.items():
            if state.get("scalers", {}).get(name):  # {} = saved while off (fp32/bf16): scale afresh
                scaler.load_state_dict(state["scalers"][name])
        if self.ema is not None and state.get("ema"):
            self.ema.load_state_dict(state["ema"])
        self.step, self.train_seconds = int(state["step"]), float(state.get("train_seconds", 0.0))
        per_rank = state.get("rng_ranks") or [state["rng"]]
        if len(per_rank) != self.dist.world_size:
            print(f"genlab: the run was saved by {len(per_rank)} process(es) and resumes with "
                  f"{self.dist.world_size}: data order and noise start afresh (weights and optimisers are exact)",
                  file=sys.stderr)
            return
        rng = per_rank[self.dist.rank]
        torch.set_rng_state(rng["torch"])
        if self.device.type == "cuda" and rng.get("cuda"):
            torch.cuda.set_rng_state_all(rng["cuda"])
        try:
            self.batches.load_state_dict(rng["batches"])
        except ValueError as e:  # e.g. a dynamic-binarisation run resumed on a fixed draw
            stored = parse_recipe(state["recipe"], "the stored recipe").data if state.get("recipe") else "?"
            raise GenlabError(f"cannot resume {self.checkpoint_path} with data {self.recipe.data!r}: {e}. "
                              f"Resume with the run's data ({stored!r}) or use a new --out") from None

    def _rng_state(self) -> dict:
        return {"torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
                "batches": self.batches.state_dict()}

    def state_dict(self) -> dict:
        return {
            "family": self.recipe.family,
            "config": self.model.config_dict(),
            "data_spec": self.model.data_spec.to_dict(),
            "optim": dataclasses.asdict(self.model.optim),
            "step_state": self.model.step_state(),
            "train_config": dataclasses.asdict(self.tc),
            "recipe": recipe_to_toml(self.recipe),
            "step": self.step,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict() if self.ema else {},
            "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
            "scalers": {n: s.state_dict() for n, s in self.scalers.items()},
            "rng": self._rng_state(),
            "metrics": {},
            "train_seconds": self.train_seconds,
            "warm_start": self.warm_start,
            "device": str(self.device) + (f" x{self.dist.world_size}" if self.dist.enabled else ""),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }

    def _check_finite_state(self) -> None:
        """Weights, buffers, EMA and optimiser moments must be finite: an update can make weights
        inf before any loss shows NaN, and such a checkpoint must never replace a good one."""
        tensors = {f"weight {k}": t for k, t in self.model.state_dict().items()}
        if self.ema is not None:
            tensors.update({f"EMA weight {k}": t for k, t in self.ema.state_dict().items()})
        for name, opt in self.optimizers.items():
            for i, st in enumerate(opt.state.values()):
                tensors.update({f"{name} optimiser state {k} #{i}": t for k, t in st.items()
                                if isinstance(t, torch.Tensor)})
        for what, t in tensors.items():
            if t.is_floating_point() and not torch.isfinite(t).all():
                raise TrainingDiverged(f"{what} became non-finite by step {self.step}; training stopped and "
                                       f"{self._kept()}. Try a lower lr, --set grad_clip=1.0 or precision fp32.")

    @torch.no_grad()
    def _check_finite_images(self) -> None:
        """Finite weights can still draw NaN (weights of 1e10 overflow in a forward pass): a model
        with a latent space must turn 4 fixed latents into finite images, with the weights that
        sampling uses (the EMA's), before its checkpoint may replace the last good one."""
        if "latent" not in self.model.capabilities:
            return  # likelihood and diffusion models: their (checked) loss is the forward pass itself
        self.model.eval()
        try:
            z = self.model.prior(4, generator=torch.Generator().manual_seed(0))
            if self.ema is not None:
                with self.ema.swapped_in(self.model):
                    images = self.model.decode(z)
            else:
                images = self.model.decode(z)
        finally:
            self.model.train()
        if not torch.isfinite(images).all():
            raise TrainingDiverged(f"the model's images of 4 fixed latents are NaN/inf at step {self.step} (its "
                                   f"weights are finite but too large); training stopped and {self._kept()}. "
                                   "Try a lower lr, --set grad_clip=1.0 or precision fp32.")

    def _kept(self) -> str:
        return (f"the last good checkpoint {self.checkpoint_path} is untouched" if self.checkpoint_path.exists()
                else "no checkpoint was written")

    def save(self) -> Path | None:
        self._check_finite()  # never save weights that came from a NaN step
        self._check_finite_state()
        self._check_finite_images()
        rng_ranks = None
        if self.dist.enabled:
            D.check_in_sync(self.model)
            rng_ranks = D.gather_objects(self._rng_state(), self.dist)  # every rank's own streams
        if not self.dist.is_main:
            return None
        state = self.state_dict()
        if rng_ranks is not None:
            state["rng_ranks"] = rng_ranks
        try:
            return save_checkpoint(state, self.checkpoint_path)
        except OSError as e:  # a full disk, a folder gone read-only: the last good file stays
            raise GenlabError(f"could not write checkpoint {self.checkpoint_path}: {e.strerror or e}; "
                              f"{self._kept()}") from None

    def keep_copy(self, checkpoint: Path) -> Path:
        """A copy of the checkpoint just written, named by its step (train option keep_every)."""
        kept = self.out / f"step_{self.step:07d}.pt"
        try:
            return write_atomically(kept, lambda tmp: shutil.copyfile(checkpoint, tmp))
        except OSError as e:
            raise GenlabError(f"could not keep a copy of {checkpoint} as {kept.name}: {e.strerror or e}; "
                              f"{self._kept()}") from None

    # ----- one step -------------------------------------------------------------
    def _run_phase(self, phase: Phase, batch: dict) -> None:
        own = self._phase_params[phase.name]
        for p in self._all_params:  # other phases' weights are constants here
            p.requires_grad_(id(p) in own)
        opt, scaler = self.optimizers[phase.name], self.scalers[phase.name]
        lr = self.learning_rate(phase.name, self.step)
        for group in opt.param_groups:
            group["lr"] = lr
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None):
            loss, logs = self.forward(phase.name, batch)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if self.dist.enabled:
            D.average_gradients(phase.params, self.dist.world_size)
        if self.tc.grad_clip > 0:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(phase.params, self.tc.grad_clip)
        scaler.step(opt)
        scaler.update()
        self._pending.append((self.step, phase.name, loss.detach().float(), {k: v.detach().float() for k, v in logs.items()}))

    def learning_rate(self, phase: str, step: int) -> float:
        """The phase's rate at 0-based `step`: its base rate times its schedule's factor."""
        sched = self.schedules.get(phase)
        factor = sched.factor(step, self.tc.steps) if sched is not None else 1.0
        return self.base_lrs[phase] * factor

    def _check_finite(self) -> None:
        """Raise TrainingDiverged at the first non-finite pending loss (they stay pending for the log)."""
        if not self._pending:
            return
        losses = torch.stack([l for _, _, l, _ in self._pending]).cpu()
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            step, phase, _, _ = self._pending[int(bad[0])]
            value = losses[int(bad[0])].item()
            # Steps count from 1 here, as in checkpoints and the log (step N = after N updates).
            raise TrainingDiverged(f"loss of phase '{phase}' became {value} at step {step + 1}; training stopped "
                                   f"and {self._kept()}. Try a lower lr, --set grad_clip=1.0 or precision fp32.")

    def _flush(self) -> dict:
        """Check the pending losses and return their means per phase (for the log)."""
        self._check_finite()
        pending, self._pending = self._pending, []
        means: dict[str, float] = {}
        for name in self._phase_params:
            rows = [(l, logs) for _, p, l, logs in pending if p == name]
            if not rows:
                continue
            means[f"{name}/loss"] = torch.stack([l for l, _ in rows]).mean().item()
            for key in rows[0][1]:
                means[f"{name}/{key}"] = torch.stack([logs[key] for _, logs in rows]).mean().item()
        return means

    def grid_inputs(self) -> torch.Tensor:
        """The same grid_size real images at every grid (the data set's first ones)."""
        if not hasattr(self, "_grid_inputs"):
            images = self.data.images[:self.tc.grid_size] if self.data.in_memory else \
                torch.stack([self.data.stream[i][0] for i in range(min(self.tc.grid_size, len(self.data)))])
            self._grid_inputs = images.to(self.device)
        return self._grid_inputs

    @torch.no_grad()
    def save_samples(self, bar=None) -> Path | None:
        if not self.dist.is_main:
            return None
        if bar is not None and "sample_steps" in self.model.capabilities:  # a slow sampler: say what it waits for
            bar.set_description_str(f"{self.recipe.family}: drawing the {self.tc.grid_size}-image sample grid "
                                    f"(fewer: --set grid_size=16)")
        self.model.eval()
        try:
            g = torch.Generator().manual_seed(GRID_SEED)
            if self.ema is not None:
                with self.ema.swapped_in(self.model):
                    images = self.model.preview(self.grid_inputs(), generator=g)
            else:
                images = self.model.preview(self.grid_inputs(), generator=g)
        finally:
            self.model.train()
            if bar is not None:
                bar.set_description_str(self.recipe.family)
        path = save_grid(images.float(), self.out / "samples" / f"step_{self.step:07d}.png", scale=2)
        self._emit({"kind": "samples", "step": self.step, "path": str(path)})
        return path

    def _emit(self, event: dict) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def _log_point(self, t_last: float, step_last: int, bar) -> tuple[float, int]:
        """Check and average the pending losses, write a log row, update the bar and listeners."""
        means = self._flush()
        now = time.perf_counter()
        self.train_seconds += now - t_last
        rate = (self.step - step_last) / max(now - t_last, 1e-9)
        means["images_per_s"] = rate * self.tc.batch_size * self.dist.world_size
        if self.log is not None:
            self.log.write(self.step, means)
        if bar is not None:
            bar.set_postfix({k.split("/")[0][:4] + ":" + k.split("/")[1][:6]: f"{v:.3g}"
                             for k, v in means.items() if k.endswith("/loss")})
        self._emit({"kind": "log", "step": self.step, **means})
        return now, self.step

    # ----- the loop -------------------------------------------------------------
    def train_step(self) -> None:
        """One step: the model's stage, a batch, each due phase, the EMA (no logs, grids or saves)."""
        reset = self.model.advance(self.step)
        if reset:
            self._bind(set(reset))
            self.schedules = phase_schedules(self.recipe.schedule, [p.name for p in self.phases])
            self._emit({"kind": "stage", "step": self.step, "reset": sorted(reset)})
        batch = next(self.batches)
        for phase in self.phases:
            if self.step % phase.every == 0:
                self._run_phase(phase, batch)
        if self.ema is not None:
            self.ema.update(self.step + self.ema_steps_before)
        self.step += 1

    def _finish_training(self) -> None:
        """The model's after-training fit (a VAE's latent mixture), once the trained weights are
        saved: a failure here says what failed and leaves that checkpoint as it is."""
        try:
            changed = self.model.finish_training(self.data)
        except (ValueError, RuntimeError) as e:
            raise GenlabError(f"{self.model.family}: the after-training fit failed ({e}); the trained weights are "
                              f"saved in {self.checkpoint_path}") from None
        if changed:
            self.save()
            if self.log is not None:
                self.log.write(self.step, {"event": "finish_training"})

    def fit(self) -> Path | None:
        tc, start_step = self.tc, self.step
        bar = None
        if self.progress and self.dist.is_main:
            from tqdm.auto import tqdm

            bar = tqdm(total=tc.steps, initial=self.step, desc=self.recipe.family, dynamic_ncols=True, unit="step")
        self.model.train()
        t_last, step_last = time.perf_counter(), self.step
        try:
            while self.step < tc.steps:
                if self.stop is not None and D.any_rank(self.stop.is_set(), self.dist, self.device):
                    break  # every rank at the same step (a signal may reach one rank only)
                self.train_step()
                if bar is not None:
                    bar.update(1)
                if self.step % tc.log_every == 0 or self.step == tc.steps:
                    t_last, step_last = self._log_point(t_last, step_last, bar)
                if self.step % tc.sample_every == 0:
                    self.save_samples(bar)
                keep = tc.keep_every and self.step % tc.keep_every == 0
                if self.step % tc.checkpoint_every == 0 or keep:
                    saved = self.save()
                    if keep and saved is not None:
                        self.keep_copy(saved)
            if self._pending:  # stopped between two log points: log the partial window at the saved step
                t_last, step_last = self._log_point(t_last, step_last, bar)
            self.train_seconds += time.perf_counter() - t_last
            path = self.save() if self.step > start_step or not self.checkpoint_path.exists() else self.checkpoint_path
            if self.step >= tc.steps and self.step > start_step:
                self._finish_training()

            if self.step % tc.sample_every and self.step > start_step:
                self.save_samples(bar)
            return path
        finally:
            if bar is not None:
                bar.close()
            if self.log is not None:
                self.log.close()

"""STAND-IN of sglang/multimodal_gen/runtime/server_args (0.5.23).

ServerArgs takes exactly the release's dataclass fields (an unknown keyword is
the TypeError ``cls(**kwargs)`` raises, server_args.py:3847-3865) and resolves
what the adapter pins, the way the release resolves it:

* performance_mode defaults to "auto" (server_args.py:348);
* CFG-parallel: --cfg-parallel-size decides (1676-1681); unset, it turns ON by
  itself with 2+ GPUs, performance_mode != "manual", no SP flag and a model
  whose defaults use CFG (1684-1723), at degree 2;
* sp_degree unset = the GPUs left after TP and CFG (1731-1740); no SP degree
  given and sp_degree 2 -> kv_gather_degree 2 (auto), above 2 -> Ulysses
  (1742-1790);
* warmup_mode: torch.compile turns server warm-up on when unset (1569-1575),
  else "off" (1598-1599);
* the validation of the layout (a ValueError): num_gpus divisible by
  sp_degree (server_args.py:4127-4130) and by dp * tp * cfg (4162-4171),
  sp_degree == ring * ulysses (4173-4177).
"""

from sglang.multimodal_gen import released
from sglang.multimodal_gen.runtime.utils.argparse import add_released_actions

FIELDS = set(released.SERVER_ARGS_FIELDS)


class ServerArgs:
    def __init__(self, **kwargs):
        for key in kwargs:
            if key not in FIELDS:
                raise TypeError(f"ServerArgs.__init__() got an unexpected keyword argument '{key}'")
        for key, value in released.SERVER_ARGS_DEFAULTS.items():
            setattr(self, key, value)
        for key in FIELDS - set(released.SERVER_ARGS_DEFAULTS):
            setattr(self, key, None)
        for key, value in kwargs.items():
            setattr(self, key, value)
        self._explicit_arg_names = set(kwargs)
        self._adjust()

    @classmethod
    def from_kwargs(cls, **kwargs):
        return cls(**kwargs)

    @staticmethod
    def add_cli_args(parser):
        return add_released_actions(parser, released.SERVER_CLI)

    def _model_default_uses_cfg(self):
        from sglang.multimodal_gen.registry import get_model_info

        info = get_model_info(self.model_path)
        if info is None:
            return False
        params = info.sampling_param_cls()
        return params.negative_prompt is not None and (params.guidance_scale or 0) > 1.0

    def _adjust(self):
        if self.enable_torch_compile and self.warmup_mode is None:
            self.warmup_mode = "server"
        if self.warmup_mode is None:
            self.warmup_mode = "off"
        if self.tp_size is None:
            self.tp_size = 1
        sp_unset = self.sp_degree is None and self.ulysses_degree is None and self.ring_degree is None
        if self.cfg_parallel_degree is not None:
            self.enable_cfg_parallel = self.cfg_parallel_degree > 1
        elif self.enable_cfg_parallel is None:
            group = self.dp_size * self.tp_size * 2
            self.enable_cfg_parallel = bool(
                self.performance_mode != "manual" and self.num_gpus >= 2 and self.num_gpus % group == 0
                and sp_unset and self._model_default_uses_cfg())
        if self.cfg_parallel_degree is None:
            self.cfg_parallel_degree = 2 if self.enable_cfg_parallel else 1
        if self.sp_degree is None:
            per_group = self.dp_size * self.tp_size * (self.cfg_parallel_degree if self.enable_cfg_parallel else 1)
            self.sp_degree = self.num_gpus // per_group if self.num_gpus % per_group == 0 else 1
        if (self.ulysses_degree is None and self.ring_degree is None and self.kv_gather_degree is None
                and self.sp_degree != 1):
            if self.sp_degree == 2:
                self.kv_gather_degree = 2
                self.sp_split_auto = True
            else:
                self.ulysses_degree = self.sp_degree
        self.kv_gather_degree = self.kv_gather_degree or 1
        self.ulysses_degree = self.ulysses_degree or 1
        self.ring_degree = self.ring_degree or 1
        if self.kv_gather_degree > 1:
            self.ulysses_degree = self.kv_gather_degree
        if self.sp_degree > self.num_gpus or self.num_gpus % self.sp_degree != 0:
            raise ValueError(
                f"num_gpus ({self.num_gpus}) must be >= and divisible by sp_degree ({self.sp_degree})")
        per_group = self.dp_size * self.tp_size * (self.cfg_parallel_degree if self.enable_cfg_parallel else 1)
        if self.num_gpus % per_group != 0:
            raise ValueError(f"num_gpus ({self.num_gpus}) must be divisible by (dp_size * tp_size"
                             f"{f' * {self.cfg_parallel_degree}' if self.enable_cfg_parallel else ''}) = {per_group}")
        if self.sp_degree != self.ring_degree * self.ulysses_degree:
            raise ValueError(
                f"sp_degree ({self.sp_degree}) must equal ring_degree * ulysses_degree "
                f"({self.ring_degree} * {self.ulysses_degree} = {self.ring_degree * self.ulysses_degree})")


__all__ = ["ServerArgs"]

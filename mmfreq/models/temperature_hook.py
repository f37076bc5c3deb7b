"""The temperature schedules of the dynamic convolutions as an mmengine hook.

DY-Conv and ODConv divide their attention logits by a temperature that their authors anneal
linearly from 30 to 1 over the first 10 ImageNet epochs; KernelWarehouse blends its attention with
a fixed cell assignment by a "temperature" annealed from 1 to 0 over the first 20 epochs. Both
authors use the same per-iteration formula, which this hook applies before every training
iteration: ``t(i) = end + max(0, (start - end) * (total - i) / total)`` at iteration
``i = runner.iter + 1`` (1-based), ``total`` = ``iters``, or ``epochs`` times the iterations of
an epoch. After ``total`` iterations ``t = end``, the layers' default value (1 for DY-Conv and
ODConv, 0 for KernelWarehouse), so a model loaded for testing needs no hook.

Config: ``custom_hooks = [dict(type='TemperatureScheduleHook', start=30.0, end=1.0, epochs=10)]``.
"""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from ..layers import DynamicConv2d, KWConv2d, ODConv2d

__all__ = ['TemperatureScheduleHook', 'annealed_temperature', 'set_temperature_']

TEMPERATURE_LAYERS = (DynamicConv2d, ODConv2d, KWConv2d)


def annealed_temperature(iteration: int, total: int, start: float, end: float) -> float:
    """The authors' schedule at 1-based ``iteration`` of ``total``."""
    return end + max(0.0, (start - end) * (total - iteration) / max(1, total))


def set_temperature_(model, temperature: float) -> int:
    """``update_temperature`` on every DY-Conv, ODConv and KW layer of ``model``; returns how
    many there are."""
    layers = [m for m in model.modules() if isinstance(m, TEMPERATURE_LAYERS)]
    for layer in layers:
        layer.update_temperature(temperature)
    return len(layers)


@HOOKS.register_module()
class TemperatureScheduleHook(Hook):
    """Anneal the temperature of every DY-Conv / ODConv / KW layer linearly (module docstring).

    Args:
        start, end: the temperature at the first iteration (before its decrement) and from
            ``total`` iterations on (DY-Conv, ODConv: 30 -> 1; KW: 1 -> 0).
        epochs, iters: the length of the annealing, in epochs (times the training loader's
            length) or iterations; exactly one.
    """

    priority = 'NORMAL'

    def __init__(self, start: float, end: float, epochs: Optional[int] = None,
                 iters: Optional[int] = None):
        if (epochs is None) == (iters is None):
            raise ValueError(f'TemperatureScheduleHook: give exactly one of epochs and iters, '
                             f'got epochs={epochs!r}, iters={iters!r}')
        for name, value in (('epochs', epochs), ('iters', iters)):
            if value is not None and not (isinstance(value, int) and value > 0):
                raise ValueError(f'TemperatureScheduleHook: {name} must be a positive int, '
                                 f'got {value!r}')
        self.start, self.end = float(start), float(end)
        self.epochs, self.iters = epochs, iters

    def _total(self, runner) -> int:
        if self.iters is not None:
            return self.iters
        return self.epochs * len(runner.train_dataloader)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        temperature = annealed_temperature(runner.iter + 1, self._total(runner), self.start,
                                           self.end)
        if set_temperature_(model, temperature) == 0:
            raise RuntimeError('TemperatureScheduleHook: the model has no DynamicConv2d, '
                               'ODConv2d or KWConv2d layer whose temperature it could set')
        runner.message_hub.update_scalar('train/temperature', temperature)

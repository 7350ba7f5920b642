import importlib.util
import warnings

from .cosine import NormedLinear, cosine_logits

__all__ = ['NormedLinear', 'cosine_logits']

# NormedLinearClsHead subclasses mmpretrain's ClsHead: defined only with mmpretrain installed.
if importlib.util.find_spec('mmpretrain') is not None:
    try:
        from .normed_linear import NormedLinearClsHead  # noqa: F401
    except ImportError as e:  # pragma: no cover - broken mmpretrain/mmcv install
        warnings.warn(f'mmloss_plugin: NormedLinearClsHead is unavailable because mmpretrain '
                      f'failed to import: {e}', UserWarning, stacklevel=2)
    else:
        __all__.append('NormedLinearClsHead')

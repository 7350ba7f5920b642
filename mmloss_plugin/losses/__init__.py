from .classification import *  # noqa: F401,F403
from .segmentation import *  # noqa: F401,F403
from .utils import BaseLoss, class_weights_from_counts, load_class_counts  # noqa: F401

"""Stage 5 evaluation: SUPERB-style downstream tasks on frozen models, and unit-quality metrics.

So far: the metric functions (error rates, EER, purity and PNMI) and the layer-weighting
featurizer; the task heads and the harness come next.
"""

from codec2vec.eval.featurizer import WeightedLayerSum
from codec2vec.eval.metrics import (UnitQuality, char_error_rate, ctc_greedy, equal_error_rate, phone_error_rate,
                                    unit_quality, word_error_rate)

__all__ = ["WeightedLayerSum", "UnitQuality", "char_error_rate", "ctc_greedy", "equal_error_rate", "phone_error_rate", "unit_quality",
           "word_error_rate"]

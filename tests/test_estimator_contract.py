"""`Classifier` reads X as scikit-learn estimators do: no hidden rescaling, and one clear
`ValueError` where inputs do not fit what `fit` saw."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from simplenn import Classifier

QUICK = dict(epochs=10, jit_compile=False, random_state=0)


@pytest.fixture(scope="module")
def digits():
    return load_digits(return_X_y=True)  # (1797, 64) values 0-16, (1797,)


def test_scale_inputs_is_off_by_default_whatever_the_preset():
    assert Classifier().get_params()["scale_inputs"] is False
    assert Classifier(preset="best").get_params()["scale_inputs"] is False


def test_behind_a_minmax_scaler_it_learns_the_digits(digits):
    X, y = digits
    scores = cross_val_score(make_pipeline(MinMaxScaler(), Classifier(jit_compile=False, random_state=0)), X, y, cv=3)
    assert scores.mean() > 0.9  # divided by 255 again, as before, the inputs all but vanished: 0.55-0.70


def test_fractions_given_to_a_raw_pixel_classifier_are_refused(digits):
    X, y = digits
    pixels = np.round(X * (255 / 16))
    clf = Classifier(scale_inputs=True, **QUICK).fit(pixels[:300], y[:300])
    assert clf.contract_.value_range == (0.0, 255.0)
    with pytest.raises(ValueError, match=r"hold fractions from 0 to 1, but this run reads pixels 0-255.*"
                                         r"multiply them by 255 \(scale_inputs=True divides X by 255"):
        clf.predict(pixels[:5] / 255)
    with pytest.raises(ValueError, match="hold fractions"):
        Classifier(scale_inputs=True, **QUICK).fit(MinMaxScaler().fit_transform(X[:300]), y[:300])
    with pytest.raises(ValueError, match="hold values from -"):
        Classifier(scale_inputs=True, **QUICK).fit(StandardScaler().fit_transform(X[:300]), y[:300])


def test_pixels_given_to_a_classifier_fitted_on_standardised_features_are_refused(digits):
    X, y = digits
    scaler = StandardScaler().fit(X[:300])
    clf = Classifier(**QUICK).fit(scaler.transform(X[:300]), y[:300])
    clf.predict(scaler.transform(X[300:400]))  # unseen rows, scaled alike: read as they are
    with pytest.raises(ValueError, match=r"of typical size .* far from the .* of the values it was fitted on"):
        clf.predict(np.round(X[300:305] * (255 / 16)))
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(np.full((1, 64), np.nan))

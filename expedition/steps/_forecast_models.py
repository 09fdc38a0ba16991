"""Forecasting models for the `forecast` step: three simple benchmarks and three fitted models.

Each model takes a training series (floats, oldest first), a horizon and the season length, and
returns point forecasts with prediction intervals at the requested levels. The simple benchmarks'
intervals follow Hyndman & Athanasopoulos, *Forecasting: Principles and Practice* (3rd ed.,
section 5.5); the fitted models' come from statsmodels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

BENCHMARKS = ("seasonal_naive", "naive", "mean")
FITTED = ("ets", "regression", "sarima")
MODELS = BENCHMARKS + FITTED
DEFAULT_MODELS = ["seasonal_naive", "naive", "mean", "ets", "regression"]
SEASONAL_ONLY = {"seasonal_naive"}

LABELS = {
    "seasonal_naive": "seasonal naive (same period last year)",
    "naive": "naive (last value)",
    "mean": "historical mean",
    "ets": "exponential smoothing (ETS, damped trend)",
    "regression": "regression on trend and season",
    "sarima": "seasonal ARIMA",
}

SHORT = {
    "seasonal_naive": "seasonal naive",
    "naive": "naive",
    "mean": "historical mean",
    "ets": "ETS",
    "regression": "trend-and-season regression",
    "sarima": "seasonal ARIMA",
}


@dataclass
class Prediction:
    mean: Any
    lower: dict[float, Any]
    upper: dict[float, Any]


def predict(model: str, y: Any, h: int, m: int, seasonal: bool, levels: tuple[float, ...]) -> Prediction:
    """Forecast *h* periods ahead from *y* with *model* (seasonal terms only when *seasonal*)."""
    import numpy as np

    y = np.asarray(y, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if model == "seasonal_naive":
            out = _seasonal_naive(y, h, m, levels)
        elif model == "naive":
            out = _naive(y, h, levels)
        elif model == "mean":
            out = _mean(y, h, levels)
        elif model == "ets":
            out = _ets(y, h, m, seasonal, levels)
        elif model == "regression":
            out = _regression(y, h, m, seasonal, levels)
        elif model == "sarima":
            out = _sarima(y, h, m, seasonal, levels)
        else:  # pragma: no cover - parameters are validated before this
            raise ValueError(model)
    # demand cannot be negative
    out.mean = np.maximum(out.mean, 0.0)
    for level in levels:
        out.lower[level] = np.maximum(out.lower[level], 0.0)
        out.upper[level] = np.maximum(out.upper[level], out.mean)
    return out


def _normal_bands(mean: Any, sigma: Any, levels: tuple[float, ...]) -> Prediction:
    from scipy import stats

    lower, upper = {}, {}
    for level in levels:
        q = stats.norm.ppf(0.5 + level / 2)
        lower[level] = mean - q * sigma
        upper[level] = mean + q * sigma
    return Prediction(mean, lower, upper)


def _seasonal_naive(y: Any, h: int, m: int, levels: tuple[float, ...]) -> Prediction:
    import numpy as np

    steps = np.arange(h)
    mean = y[len(y) - m + steps % m]
    residuals = y[m:] - y[:-m]
    sigma = np.sqrt(np.mean(residuals**2)) if len(residuals) else 0.0
    k = steps // m  # whole years ahead
    return _normal_bands(mean, sigma * np.sqrt(k + 1), levels)


def _naive(y: Any, h: int, levels: tuple[float, ...]) -> Prediction:
    import numpy as np

    mean = np.full(h, y[-1])
    residuals = np.diff(y)
    sigma = np.sqrt(np.mean(residuals**2)) if len(residuals) else 0.0
    return _normal_bands(mean, sigma * np.sqrt(np.arange(1, h + 1)), levels)


def _mean(y: Any, h: int, levels: tuple[float, ...]) -> Prediction:
    import numpy as np

    mean = np.full(h, y.mean())
    sigma = y.std(ddof=1) if len(y) > 1 else 0.0
    return _normal_bands(mean, np.full(h, sigma * np.sqrt(1 + 1 / len(y))), levels)


def _ets(y: Any, h: int, m: int, seasonal: bool, levels: tuple[float, ...]) -> Prediction:
    import numpy as np
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    series = pd.Series(y, index=pd.RangeIndex(len(y)))
    use_season = seasonal and len(y) >= 2 * m
    init = "heuristic" if use_season else "estimated"  # heuristic is 10-50x faster
    model = ETSModel(
        series,
        error="add",
        trend="add",
        damped_trend=True,
        seasonal="add" if use_season else None,
        seasonal_periods=m if use_season else None,
        initialization_method=init,
    )
    fit = model.fit(disp=False)
    pred = fit.get_prediction(start=len(y), end=len(y) + h - 1)
    lower, upper = {}, {}
    for level in levels:
        frame = pred.summary_frame(alpha=1 - level)
        lower[level] = frame["pi_lower"].to_numpy()
        upper[level] = frame["pi_upper"].to_numpy()
    return Prediction(np.asarray(pred.predicted_mean, dtype=float), lower, upper)


def _design(start: int, length: int, m: int, seasonal: bool) -> Any:
    import numpy as np

    t = np.arange(start, start + length, dtype=float)
    columns = [np.ones(length), t]
    if seasonal:
        phase = (np.arange(start, start + length)) % m
        for s in range(1, m):
            columns.append((phase == s).astype(float))
    return np.column_stack(columns)


def _regression(y: Any, h: int, m: int, seasonal: bool, levels: tuple[float, ...]) -> Prediction:
    import numpy as np
    import statsmodels.api as sm

    use_season = seasonal and len(y) >= m + 4
    fit = sm.OLS(y, _design(0, len(y), m, use_season)).fit()
    pred = fit.get_prediction(_design(len(y), h, m, use_season))
    lower, upper = {}, {}
    for level in levels:
        frame = pred.summary_frame(alpha=1 - level)
        lower[level] = np.asarray(frame["obs_ci_lower"], dtype=float)
        upper[level] = np.asarray(frame["obs_ci_upper"], dtype=float)
    return Prediction(np.asarray(pred.predicted_mean, dtype=float), lower, upper)


def _sarima(y: Any, h: int, m: int, seasonal: bool, levels: tuple[float, ...]) -> Prediction:
    import numpy as np
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    use_season = seasonal and len(y) >= 2 * m + 2
    model = SARIMAX(
        y,
        order=(1, 0, 0) if use_season else (1, 1, 0),
        seasonal_order=(0, 1, 1, m) if use_season else (0, 0, 0, 0),
        trend="c" if use_season else "n",
    )
    fit = model.fit(disp=False)
    forecast = fit.get_forecast(h)
    lower, upper = {}, {}
    for level in levels:
        interval = np.asarray(forecast.conf_int(alpha=1 - level))
        lower[level] = interval[:, 0]
        upper[level] = interval[:, 1]
    return Prediction(np.asarray(forecast.predicted_mean, dtype=float), lower, upper)


def mase_scale(train: Any, m: int) -> float:
    """Mean absolute in-sample error of the seasonal naive forecast (naive when too short)."""
    import numpy as np

    train = np.asarray(train, dtype=float)
    lag = m if len(train) > m else 1
    if len(train) <= lag:
        return float("nan")
    scale = float(np.mean(np.abs(train[lag:] - train[:-lag])))
    return scale if scale > 0 else float("nan")


def smape(actual: Any, forecast: Any) -> Any:
    """Symmetric absolute percentage errors, 0–200, with 0/0 counted as no error."""
    import numpy as np

    actual = np.asarray(actual, dtype=float)
    forecast = np.asarray(forecast, dtype=float)
    denominator = np.abs(actual) + np.abs(forecast)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, 200 * np.abs(actual - forecast) / denominator, 0.0)

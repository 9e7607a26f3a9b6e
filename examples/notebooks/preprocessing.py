"""COR rain nowcasting, the way the TwinsCIE notebook registers it: four functions in one
file (load, preprocessing, load_model, predict) plus the helpers they share. The type
hints say how each parameter arrives: a `Path` is a file on the node, a `str` or
`float` a JSON value, anything else the loaded object (a DataFrame, an array).

The data are those of examples/rionowcast; the model is an ensemble of small linear
nowcasters (one row of weights per member), a stand-in for the real ConvLSTM."""

import time
from pathlib import Path

import numpy as np
import pandas as pd

LAGS = 3
"""Radar frames a nowcast looks at, newest last."""
UNITS = {"mm/h": 1.0, "in/h": 1 / 25.4}


def _rain_rate(dbz: pd.Series) -> np.ndarray:
    """Marshall-Palmer (Z = 200 R^1.6); echoes under 5 dBZ are no rain."""
    values = dbz.to_numpy(dtype="float64")
    return np.where(values < 5.0, 0.0, (10.0 ** (values / 10.0) / 200.0) ** (1.0 / 1.6))


def load(radar_data_path: Path, rain_gauge_data_path: Path, grid_data_path: Path):
    """Source: radar frames, rain gauges and the grid's points, from parquet files."""
    df_radar = pd.read_parquet(radar_data_path)
    df_rain_gauge = pd.read_parquet(rain_gauge_data_path)
    df_grid = pd.read_parquet(grid_data_path)
    print(f"loaded {len(df_radar)} radar cells, {len(df_rain_gauge)} gauge readings")
    return df_radar, df_rain_gauge, df_grid


def preprocessing(df_radar, df_rain_gauge, df_grid):
    """The rain rate of the last frames at each grid point, corrected by the gauges."""
    radar = df_radar.assign(rain=_rain_rate(df_radar["dbz"]))
    frames = sorted(radar["time"].unique())[-LAGS:]
    lagged = radar[radar["time"].isin(frames)].pivot_table(
        index=["y", "x"], columns="time", values="rain", fill_value=0.0
    )
    lagged.columns = [f"r{i}" for i in range(LAGS)]
    radar_mean = float(radar["rain"].mean())
    bias = 1.0 if radar_mean < 1e-6 else float(df_rain_gauge["rain_mm_h"].mean() / radar_mean)
    X = df_grid.merge(lagged.reset_index(), on=["y", "x"], how="left").fillna(0.0)
    X["bias"] = float(np.clip(bias, 0.5, 2.0))
    print(f"{len(X)} grid points, gauge bias {X['bias'].iloc[0]:.2f}")
    return X


def load_model(model_path: Path):
    """Source: the model, members x (LAGS weights and a bias), float64 .npy."""
    model = np.load(model_path)
    print(f"model: {model.shape[0]} members of {model.shape[1]} weights")
    return model


def predict(X, model, units: str = "mm/h", warmup_seconds: float = 0.0):
    """Rain rate at each grid point ten minutes after the last frame: the ensemble's
    mean nowcast, in `units` (mm/h or in/h)."""
    if units not in UNITS:
        raise ValueError(f"unknown units {units!r}: use one of {', '.join(UNITS)}")
    time.sleep(warmup_seconds)  # a slow model's start-up, to have something to stop
    weights = model.mean(axis=0)
    lags = X[[f"r{i}" for i in range(LAGS)]].to_numpy() * X[["bias"]].to_numpy()
    rate = np.clip(lags @ weights[:LAGS] + weights[LAGS], 0.0, None) * UNITS[units]
    print(f"predicted {len(X)} points, mean {rate.mean():.2f} {units}")
    return pd.DataFrame(
        {"point_id": X["point_id"], "lat": X["lat"], "lon": X["lon"], "rain": rate.round(3)}
    )

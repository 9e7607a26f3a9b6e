"""COR rain nowcasting ("rionowcast"): the four handlers of the dataflow.

load -> preprocessing -> predict, with load_model beside them. The model is a small
learned convolution: for every grid point it weighs the 3x3 neighbourhood of the last
three radar frames (converted to rain rate and corrected with the rain gauges) to
nowcast the rain rate ten minutes after the last frame. It stands in for the ConvLSTM
of the real service and needs nothing but numpy and pandas.

This file is the source of truth; make_configmap.py copies it into configmap.yaml.
"""

import numpy as np
import pandas as pd

LAGS = 3  # radar frames the model looks at, newest last
STEP = pd.Timedelta(minutes=10)  # time between radar frames
OFFSETS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def dbz_to_rain_rate(dbz):
    """Marshall-Palmer, Z = 200 R^1.6; echoes below 5 dBZ are no rain."""
    dbz = np.asarray(dbz, dtype="float64")
    rate = (10.0 ** (dbz / 10.0) / 200.0) ** (1.0 / 1.6)
    return np.where(dbz < 5.0, 0.0, rate)


def feature_names():
    return [f"r_l{lag}_{dy + 1}{dx + 1}" for lag in range(LAGS) for dy, dx in OFFSETS]


def neighbourhood_features(frames):
    """frames: array (LAGS, ny, nx) of rain rate -> array (ny * nx, LAGS * 9).

    Row i is grid cell (y, x) = divmod(i, nx); edges repeat the border cells.
    """
    lags, ny, nx = frames.shape
    padded = np.pad(frames, ((0, 0), (1, 1), (1, 1)), mode="edge")
    columns = [
        padded[lag, 1 + dy : 1 + dy + ny, 1 + dx : 1 + dx + nx].reshape(-1)
        for lag in range(lags)
        for dy, dx in OFFSETS
    ]
    return np.stack(columns, axis=1)


def load(radar_data_path, rain_gauge_data_path, grid_data_path):
    """Source: read the three parquet files."""
    df_radar = pd.read_parquet(radar_data_path)
    df_rain_gauge = pd.read_parquet(rain_gauge_data_path)
    df_grid = pd.read_parquet(grid_data_path)
    return df_radar, df_rain_gauge, df_grid


def preprocessing(df_radar, df_rain_gauge, df_grid):
    """Radar reflectivity + gauges -> one feature row per grid point (X).

    1. dBZ -> rain rate (mm/h) for every radar frame;
    2. mean-field bias: the gauges' total over the radar's total at the gauges' cells,
       clipped to [0.5, 2], multiplies every radar rain rate;
    3. the 3x3 neighbourhood of the last LAGS frames is each point's feature vector.
    """
    ny = int(df_grid["y"].max()) + 1
    nx = int(df_grid["x"].max()) + 1
    times = np.sort(df_radar["time"].unique())
    if len(times) < LAGS:
        raise ValueError(f"need at least {LAGS} radar frames, got {len(times)}")

    radar = df_radar.assign(rain=dbz_to_rain_rate(df_radar["dbz"]))
    cube = (
        radar.pivot_table(index="time", columns=["y", "x"], values="rain", fill_value=0.0)
        .reindex(columns=pd.MultiIndex.from_product([range(ny), range(nx)]), fill_value=0.0)
        .to_numpy()
        .reshape(len(times), ny, nx)
    )

    # Snap each gauge to its nearest grid point.
    grid_ll = df_grid[["lat", "lon"]].to_numpy()
    gauges = df_rain_gauge.copy()
    nearest = np.argmin(
        ((gauges[["lat", "lon"]].to_numpy()[:, None, :] - grid_ll[None, :, :]) ** 2).sum(-1),
        axis=1,
    )
    gauges["y"] = df_grid["y"].to_numpy()[nearest]
    gauges["x"] = df_grid["x"].to_numpy()[nearest]
    time_index = {pd.Timestamp(t): i for i, t in enumerate(times)}
    gauges = gauges[gauges["time"].isin(list(time_index))]
    t_idx = gauges["time"].map(lambda t: time_index[pd.Timestamp(t)]).to_numpy()
    radar_at_gauges = cube[t_idx, gauges["y"].to_numpy(), gauges["x"].to_numpy()]
    radar_total = float(radar_at_gauges.sum())
    gauge_total = float(gauges["rain_mm_h"].sum())
    bias = 1.0 if radar_total < 1e-6 else float(np.clip(gauge_total / radar_total, 0.5, 2.0))

    features = neighbourhood_features(cube[-LAGS:] * bias)
    X = pd.DataFrame(features, columns=feature_names())
    cells = pd.DataFrame({"y": np.repeat(np.arange(ny), nx), "x": np.tile(np.arange(nx), ny)})
    meta = cells.merge(df_grid, on=["y", "x"], how="left")
    X.insert(0, "point_id", meta["point_id"].to_numpy())
    X.insert(1, "lat", meta["lat"].to_numpy())
    X.insert(2, "lon", meta["lon"].to_numpy())
    X.insert(3, "valid_time", pd.Timestamp(times[-1]) + STEP)
    X.insert(4, "gauge_bias", bias)
    return X


def load_model(model_path):
    """Source: the model's weights, LAGS * 9 kernel weights then the bias (.npy)."""
    weights = np.load(model_path)
    expected = LAGS * len(OFFSETS) + 1
    if weights.shape != (expected,):
        raise ValueError(f"model weights have shape {weights.shape}, expected ({expected},)")
    return weights


def categorise(rate):
    return pd.cut(
        rate,
        bins=[-np.inf, 0.5, 5.0, 25.0, np.inf],
        labels=["none", "light", "moderate", "heavy"],
    ).astype(str)


def predict(X, model):
    """Rain rate (mm/h) ten minutes after the last radar frame, per grid point."""
    weights = np.asarray(model, dtype="float64")
    features = X[feature_names()].to_numpy(dtype="float64")
    rate = np.clip(features @ weights[:-1] + weights[-1], 0.0, None).round(2)
    return pd.DataFrame(
        {
            "point_id": X["point_id"],
            "lat": X["lat"],
            "lon": X["lon"],
            "valid_time": X["valid_time"],
            "rain_mm_h": rate,
            "category": categorise(rate),
        }
    )

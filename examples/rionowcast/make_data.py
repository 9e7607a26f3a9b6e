"""Make the rionowcast example's data: a synthetic storm over a 16x16 grid on Rio de
Janeiro, ten rain gauges, and the nowcasting model's weights fitted on other synthetic
storms. Deterministic (fixed seeds); run it again only to change the data:

    python examples/rionowcast/make_data.py

It writes data/radar.parquet, data/rain_gauge.parquet, data/grid.parquet and
data/model.npy, and regenerates configmap.yaml (the code) and data-configmap.yaml (the
data) with make_configmap.py.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "src"))
from preprocessing import LAGS, neighbourhood_features  # noqa: E402

NY = NX = 16
FRAMES = 12
START = pd.Timestamp("2024-03-21 18:00")  # UTC
RADAR_UNDERESTIMATES = 1.25  # the radar sees true rain / this; gauges correct it


def storm(rng, frames, x_start=(-2, NX / 2)):
    """True rain rate (mm/h), array (frames, NY, NX): a few cells drifting east."""
    yy, xx = np.mgrid[0:NY, 0:NX].astype(float)
    rain = np.zeros((frames, NY, NX))
    for _ in range(rng.integers(2, 4)):
        y0, x0 = rng.uniform(2, NY - 2), rng.uniform(*x_start)
        vy, vx = rng.uniform(-0.3, 0.3), rng.uniform(0.6, 1.2)
        peak, sigma = rng.uniform(8, 45), rng.uniform(1.2, 2.8)
        growth = rng.uniform(0.92, 1.08)
        for t in range(frames):
            d2 = (yy - y0 - vy * t) ** 2 + (xx - x0 - vx * t) ** 2
            rain[t] += peak * growth**t * np.exp(-d2 / (2 * sigma**2))
    return np.where(rain < 0.1, 0.0, rain)


def to_dbz(rain):
    with np.errstate(divide="ignore"):
        dbz = 10 * np.log10(200 * rain**1.6)
    return np.where(rain > 0, dbz, 0.0)


def fit_model(rng, storms=400):
    """Least squares (lightly regularised) of the next frame on the 3x3x3 neighbourhood."""
    features, targets = [], []
    for _ in range(storms):
        rain = storm(rng, LAGS + 1)
        features.append(neighbourhood_features(rain[:LAGS]))
        targets.append(rain[LAGS].reshape(-1))
    A = np.concatenate(features)
    A = np.hstack([A, np.ones((len(A), 1))])
    y = np.concatenate(targets)
    ridge = 1e-2 * np.eye(A.shape[1])
    ridge[-1, -1] = 0.0
    return np.linalg.solve(A.T @ A + ridge, A.T @ y)


def main():
    data = HERE / "data"
    data.mkdir(exist_ok=True)

    lat = np.linspace(-22.78, -23.02, NY)
    lon = np.linspace(-43.60, -43.16, NX)
    grid = pd.DataFrame(
        [
            {
                "point_id": f"p{y:02d}{x:02d}",
                "y": y,
                "x": x,
                "lat": round(lat[y], 5),
                "lon": round(lon[x], 5),
            }
            for y in range(NY)
            for x in range(NX)
        ]
    )

    rng = np.random.default_rng(2024)
    # The last frame is the future the nowcast aims at; the radar shows the ones before.
    truth = storm(rng, FRAMES + 1, x_start=(-8, 0))
    times = [START + i * pd.Timedelta(minutes=10) for i in range(FRAMES)]
    seen = truth[:FRAMES] / RADAR_UNDERESTIMATES
    radar = pd.DataFrame(
        {
            "time": np.repeat(times, NY * NX),
            "y": np.tile(np.repeat(np.arange(NY), NX), FRAMES),
            "x": np.tile(np.arange(NX), NY * FRAMES),
            "dbz": to_dbz(seen).reshape(-1).round(1).astype("float32"),
        }
    )

    stations = pd.DataFrame(
        {
            "station_id": [f"g{i:02d}" for i in range(10)],
            "lat": rng.uniform(lat.min(), lat.max(), 10).round(5),
            "lon": rng.uniform(lon.min(), lon.max(), 10).round(5),
        }
    )
    rows = []
    for _, s in stations.iterrows():
        y = int(np.abs(lat - s["lat"]).argmin())
        x = int(np.abs(lon - s["lon"]).argmin())
        for t, when in enumerate(times):
            measured = truth[t, y, x] * rng.lognormal(0.0, 0.1)
            rows.append({**s.to_dict(), "time": when, "rain_mm_h": round(measured, 2)})
    gauges = pd.DataFrame(rows)

    weights = fit_model(np.random.default_rng(7))

    radar.to_parquet(data / "radar.parquet", index=False)
    gauges.to_parquet(data / "rain_gauge.parquet", index=False)
    grid.to_parquet(data / "grid.parquet", index=False)
    np.save(data / "model.npy", weights)

    future = truth[FRAMES]
    print(f"storm peak in the nowcast frame: {future.max():.1f} mm/h")
    for path in sorted(data.iterdir()):
        print(f"{path.relative_to(HERE)}: {path.stat().st_size} bytes")

    subprocess.run([sys.executable, str(HERE / "make_configmap.py")], check=True)


if __name__ == "__main__":
    main()

"""Make data/credit.csv: 400 synthetic loan applications with a `default` label.

Deterministic (fixed seed); run it again only to change the data:

    python examples/credit-scoring/make_data.py

It regenerates data-configmap.yaml (ConfigMap credit-data) from data/ too.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROWS = 400


def main():
    rng = np.random.default_rng(42)
    age = rng.integers(21, 70, ROWS)
    income = np.round(rng.lognormal(np.log(45), 0.45, ROWS), 1)  # thousands per year
    loan_amount = np.round(income * rng.uniform(0.1, 0.9, ROWS), 1)
    term = rng.choice([12, 24, 36, 48, 60], ROWS)
    debt_to_income = np.round(rng.beta(2, 5, ROWS), 3)
    history = np.clip(age - 18 - rng.integers(0, 10, ROWS), 0, None)
    late = rng.poisson(0.6, ROWS)
    home_owner = rng.random(ROWS) < 0.45
    purpose = rng.choice(
        ["car", "home", "education", "business", "other"], ROWS, p=[0.3, 0.2, 0.15, 0.15, 0.2]
    )

    logit = (
        -1.2
        + 3.5 * (debt_to_income - 0.3)
        + 0.75 * late
        - 0.05 * (history - 15)
        + 1.2 * (loan_amount / income - 0.5)
        - 0.5 * home_owner
        + 0.6 * (purpose == "business")
        + 0.01 * (term - 36)
    )
    default = rng.random(ROWS) < 1 / (1 + np.exp(-logit))

    frame = pd.DataFrame(
        {
            "applicant_id": [f"a{i:04d}" for i in range(ROWS)],
            "age": age,
            "income_k": income,
            "loan_amount_k": loan_amount,
            "term_months": term,
            "debt_to_income": debt_to_income,
            "credit_history_years": history,
            "late_payments_2y": late,
            "home_owner": home_owner.astype(int),
            "purpose": purpose,
            "default": default.astype(int),
        }
    )
    (HERE / "data").mkdir(exist_ok=True)
    frame.to_csv(HERE / "data" / "credit.csv", index=False)
    print(f"data/credit.csv: {len(frame)} rows, default rate {frame['default'].mean():.2f}")

    subprocess.run([sys.executable, str(HERE / "make_configmap.py")], check=True)


if __name__ == "__main__":
    main()

# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Residual plot after a polynomial fit

# %% tags=["imports"]
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

# %% tags=["step:data"]
rng = np.random.default_rng(8)
x = np.linspace(-2, 2, 60)
y = 0.5 * x ** 3 - x + rng.normal(0, 0.3, x.size)

# %% tags=["step:fit"]
coef = np.polyfit(x, y, deg=3)
fitted = np.polyval(coef, x)
residuals = y - fitted

# %% tags=["step:plot"]
fig, axes = plt.subplots(1, 2, figsize=(8, 3))
axes[0].scatter(x, y, s=8)
axes[0].plot(x, fitted)
axes[1].scatter(fitted, residuals, s=8)
plt.close(fig)

# %% tags=["step:check", "metrics"]
residual_std = float(residuals.std())
print(round(residual_std, 3))

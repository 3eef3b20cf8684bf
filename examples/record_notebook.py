# %% [markdown]
# # Recording a run into a DataFrame
# A notebook-style script (cells marked `# %%` run one by one in VS Code, Jupyter or Spyder, or all
# at once with `python examples/record_notebook.py`). It records the demo firmware's sensor
# channels for a few seconds, with the device's own timestamps, and looks at them with pandas
# (`pip install 'firmwatch[pandas]'`).

# %%
import sys

import firmwatch

dev = firmwatch.connect(sim=sys.argv[1] if len(sys.argv) > 1 else "host")
print(dev, "build id", dev.build_id_status)

# %% [markdown]
# Record four channels at 200 Hz and the state machine at 100 Hz for 3 seconds. The table has the
# columns `firmwatch record` writes: one row per expression per sample.

# %%
rec = dev.record({"accel_x": 200, "accel_y": 200, "accel_z": 200, "temp_celsius": 200, "fsm_state": 100},
                 duration=3.0, table="pandas")
df = rec.table
print(f"{rec.samples} samples in {rec.duration_s:.2f} s; lost: {rec.loss.describe()}")
print(df.head())

# %% [markdown]
# One column per channel, indexed by device time.

# %%
numeric = df[df["name"] != "fsm_state"]
wide = numeric.pivot_table(index="target_time_s", columns="name", values="value", aggfunc="first")
print(wide.describe().round(2).to_string())

# %% [markdown]
# How long the state machine stays in each state (it cycles every 250 ms). The recording holds an
# enum's number; `dev.read("fsm_state")` would give its name.

# %%
states = df[df["name"] == "fsm_state"].copy()
states["run"] = (states["value"] != states["value"].shift()).cumsum()
dwell = states.groupby("run").agg(state=("value", "first"), start=("target_time_s", "first"),
                                  end=("target_time_s", "last"))
dwell["ms"] = (dwell["end"] - dwell["start"]) * 1000 + 10  # the last sample's own 10 ms
names = {0: "FSM_IDLE", 1: "FSM_SAMPLING", 2: "FSM_FILTERING", 3: "FSM_TRANSMIT", 4: "FSM_SLEEP"}
full = dwell.iloc[1:-1]  # the first and last runs are cut by the recording's start and end
print(full.groupby("state")["ms"].median().rename(index=lambda n: names[int(n)]).to_string())

# %%
wide.to_csv("accel.csv")
print("wrote accel.csv")
dev.close()

"""The station core: every chair of the floor, its pump and its alarms, in plain Python (no Qt).

`Station` holds one `ChairSession` per chair, the nurse identified at the station and the tick.
A session turns each pump reading into the commands that document it (`ChairSession.on_reading`), runs
them through the same `Floor.execute` a nurse's command takes, evaluates the alarm rules and journals
their transitions. The Qt layer (`app.chairs`) only re-emits what changes here as signals; a headless
station, the demo and the benches drive the same core directly.
"""

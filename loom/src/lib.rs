//! Models and Miri checks of amphi; see tests/.

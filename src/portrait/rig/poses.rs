//! The reference poses of the golden contact sheets: named motion parameters that exercise every part
//! of the rig.
//!
//! Input: nothing. Output: lists of (name, [`MotionParams`]). Thread: any (tests and examples).

use crate::vocab::MotionParams;

/// The poses of the reference contact sheet, by name: neutral, jaw 0.5 and 1.0, lip_round, lip_stretch,
/// blink, yaw +-10 degrees, pitch +-8 degrees, roll +-8 degrees, smile, brow_raise and gaze to either
/// side.
pub fn sheet_poses() -> [(&'static str, MotionParams); 16] {
    let p = MotionParams::default;
    [
        ("neutral", p()),
        ("jaw_0.5", MotionParams { jaw_open: 0.5, ..p() }),
        ("jaw_1.0", MotionParams { jaw_open: 1.0, ..p() }),
        ("lip_round", MotionParams { lip_round: 1.0, ..p() }),
        ("lip_stretch", MotionParams { lip_stretch: 1.0, ..p() }),
        ("blink", MotionParams { blink_right: 1.0, blink_left: 1.0, ..p() }),
        ("yaw_+10", MotionParams { head_yaw_deg: 10.0, ..p() }),
        ("yaw_-10", MotionParams { head_yaw_deg: -10.0, ..p() }),
        ("pitch_+8", MotionParams { head_pitch_deg: 8.0, ..p() }),
        ("pitch_-8", MotionParams { head_pitch_deg: -8.0, ..p() }),
        ("roll_+8", MotionParams { head_roll_deg: 8.0, ..p() }),
        ("roll_-8", MotionParams { head_roll_deg: -8.0, ..p() }),
        ("smile", MotionParams { smile: 1.0, ..p() }),
        ("brow_raise", MotionParams { brow_raise: 1.0, ..p() }),
        ("gaze_+1", MotionParams { gaze_x: 1.0, ..p() }),
        ("gaze_-1", MotionParams { gaze_x: -1.0, ..p() }),
    ]
}

/// [`sheet_poses`] with the mouth closed at rest (`lip_close = 1`): a portrait that shows its teeth
/// played as a closed-mouth one.
pub fn closed_sheet_poses() -> [(&'static str, MotionParams); 16] {
    sheet_poses().map(|(name, params)| (name, MotionParams { lip_close: 1.0, ..params }))
}

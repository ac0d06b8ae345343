//! VMC out: facecast's lip sync and head drive a VRM or Live2D rig in a VTuber tool (VSeeFace, VNyan,
//! Warudo, VMC-compatible apps) through the VMC protocol, OSC over UDP.
//!
//! Input: each frame's motion parameters. Output: one OSC bundle per frame to `HOST:PORT`:
//! `/VMC/Ext/Blend/Val` for the VRM vowel and blink blendshapes (`A I U E O Blink_L Blink_R`, or VRM 1.0's
//! `aa ih ou ee oh blinkLeft blinkRight`) and for the rest of facecast's parameters under their own
//! names, then `/VMC/Ext/Blend/Apply`, the head as `/VMC/Ext/Bone/Pos` `Head` (a quaternion), and
//! `/VMC/Ext/OK 1`. Thread: the live loop's render thread; the socket never blocks (a packet that does
//! not fit is dropped and counted). Encoding is rosc's.

use std::net::{SocketAddr, UdpSocket};

use rosc::{OscBundle, OscMessage, OscPacket, OscTime, OscType};

use super::OutputError;
use crate::config::VrmNames;
use crate::vocab::MotionParams;

/// The seven names: the vowels a, i, u, e, o, then the left and right eye's blink.
fn names(v: VrmNames) -> [&'static str; 7] {
    match v {
        VrmNames::Vrm0 => ["A", "I", "U", "E", "O", "Blink_L", "Blink_R"],
        VrmNames::Vrm1 => ["aa", "ih", "ou", "ee", "oh", "blinkLeft", "blinkRight"],
    }
}

/// The vowel weights a, i, u, e, o of one frame: the model's visemes where it gives them, else the mouth's
/// opening shaped by rounding and stretching.
pub fn vowels(p: &MotionParams) -> [f32; 5] {
    if p.visemes.is_empty() {
        let open = p.jaw_open.clamp(0.0, 1.0);
        let (round, stretch) = (p.lip_round.clamp(0.0, 1.0), p.lip_stretch.clamp(0.0, 1.0));
        let plain = (1.0 - round - stretch).max(0.0);
        return [open * plain, open * stretch, round * (1.0 - open), stretch * (1.0 - open), open * round];
    }
    let w =
        |name: &str| crate::vocab::motion::VISEME_NAMES.iter().position(|n| *n == name).map_or(0.0, |i| p.visemes.0[i]);
    [w("aa"), w("I"), w("U"), w("E"), w("O")]
}

/// Sends each frame's motion to a VMC receiver.
pub struct VmcSender {
    socket: UdpSocket,
    target: SocketAddr,
    names: [&'static str; 7],
    sent: u64,
    dropped: u64,
}

impl VmcSender {
    /// Binds a UDP socket for `target` (a VTuber tool's VMC receiver, e.g. 127.0.0.1:39539).
    ///
    /// # Errors
    /// [`OutputError::Device`] when no socket can be bound.
    pub fn new(target: SocketAddr, names: VrmNames) -> Result<Self, OutputError> {
        let bind: SocketAddr =
            if target.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
        let fail = |e: std::io::Error| OutputError::Device {
            path: format!("vmc:{target}").into(),
            reason: format!("cannot open a UDP socket: {e}"),
        };
        let socket = UdpSocket::bind(bind).map_err(fail)?;
        socket.set_nonblocking(true).map_err(fail)?;
        Ok(Self { socket, target, names: self::names(names), sent: 0, dropped: 0 })
    }

    /// The bundle of one frame.
    pub fn bundle(&self, p: &MotionParams) -> OscPacket {
        let msg = |addr: &str, args: Vec<OscType>| OscPacket::Message(OscMessage { addr: addr.to_owned(), args });
        let blend =
            |name: &str, v: f32| msg("/VMC/Ext/Blend/Val", vec![OscType::String(name.to_owned()), OscType::Float(v)]);
        let [a, i, u, e, o] = vowels(p);
        let mut content: Vec<OscPacket> = [a, i, u, e, o, p.blink_left, p.blink_right]
            .iter()
            .zip(self.names)
            .map(|(&v, name)| blend(name, v.clamp(0.0, 1.0)))
            .collect();
        for (name, v) in [
            ("jaw_open", p.jaw_open),
            ("lip_close", p.lip_close),
            ("lip_round", p.lip_round),
            ("lip_stretch", p.lip_stretch),
            ("smile", p.smile),
            ("brow_raise", p.brow_raise),
            ("gaze_x", p.gaze_x),
            ("gaze_y", p.gaze_y),
        ] {
            content.push(blend(name, v));
        }
        content.push(msg("/VMC/Ext/Blend/Apply", vec![]));
        // The head in Unity's axes (x right, y up, z forward, left-handed), which VMC uses: yaw about y
        // (positive: the nose to the viewer's right, the avatar's own left), pitch about x (positive: the
        // nose down), roll about z (positive: clockwise as the viewer sees it), applied as Unity's
        // Quaternion.Euler does (z, then x, then y).
        let pitch = (p.head_pitch_deg + p.nod.clamp(0.0, 1.0) * crate::vocab::motion::NOD_DEG).to_radians();
        let q = glam::Quat::from_euler(
            glam::EulerRot::YXZ,
            -p.head_yaw_deg.to_radians(),
            pitch,
            -p.head_roll_deg.to_radians(),
        );
        let mut bone = vec![OscType::String("Head".into())];
        bone.extend([0.0, 0.0, 0.0, q.x, q.y, q.z, q.w].map(OscType::Float));
        content.push(msg("/VMC/Ext/Bone/Pos", bone));
        content.push(msg("/VMC/Ext/OK", vec![OscType::Int(1)]));
        OscPacket::Bundle(OscBundle { timetag: OscTime { seconds: 0, fractional: 1 }, content })
    }

    /// Sends one frame. A packet the socket cannot take now is dropped and counted.
    ///
    /// # Errors
    /// [`OutputError::Device`] when the packet cannot be encoded or the network refuses it.
    pub fn send(&mut self, p: &MotionParams) -> Result<(), OutputError> {
        let fail = |reason: String| OutputError::Device { path: format!("vmc:{}", self.target).into(), reason };
        let bytes = rosc::encoder::encode(&self.bundle(p)).map_err(|e| fail(format!("cannot encode OSC: {e}")))?;
        match self.socket.send_to(&bytes, self.target) {
            Ok(_) => self.sent += 1,
            // Nobody listening yet (ICMP port unreachable comes back as a refusal) or a full buffer: the
            // receiver gets the next frame.
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::ConnectionRefused) => {
                self.dropped += 1;
            }
            Err(e) => return Err(fail(format!("cannot send: {e}"))),
        }
        Ok(())
    }

    /// Frames sent and dropped.
    pub fn counts(&self) -> (u64, u64) {
        (self.sent, self.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_one_bundle_that_decodes_to_the_vmc_messages() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        let mut sender = VmcSender::new(receiver.local_addr().unwrap(), VrmNames::Vrm1).unwrap();
        let mut p = MotionParams { jaw_open: 0.8, blink_left: 1.0, head_yaw_deg: 90.0, ..Default::default() };
        p.visemes.0[10] = 0.7; // aa
        sender.send(&p).unwrap();
        let mut buf = [0u8; 4096];
        let n = receiver.recv(&mut buf).unwrap();
        let (_, packet) = rosc::decoder::decode_udp(&buf[..n]).unwrap();
        let OscPacket::Bundle(b) = packet else { panic!("not a bundle") };
        let messages: Vec<&OscMessage> =
            b.content.iter().map(|p| if let OscPacket::Message(m) = p { m } else { panic!("nested") }).collect();
        let value = |name: &str| {
            messages
                .iter()
                .find(|m| m.addr == "/VMC/Ext/Blend/Val" && m.args[0] == OscType::String(name.into()))
                .map(|m| m.args[1].clone())
        };
        assert_eq!(value("aa"), Some(OscType::Float(0.7)));
        assert_eq!(value("blinkLeft"), Some(OscType::Float(1.0)));
        assert_eq!(value("jaw_open"), Some(OscType::Float(0.8)));
        let apply = messages.iter().position(|m| m.addr == "/VMC/Ext/Blend/Apply").unwrap();
        assert!(messages[..apply].iter().all(|m| m.addr == "/VMC/Ext/Blend/Val"), "values come before Apply");
        let head = messages.iter().find(|m| m.addr == "/VMC/Ext/Bone/Pos").unwrap();
        assert_eq!(head.args[0], OscType::String("Head".into()));
        // A 90 degree yaw is a half-turn quaternion about y: (0, -0.707, 0, 0.707).
        let f = |i: usize| if let OscType::Float(v) = head.args[i] { v } else { f32::NAN };
        let half_turn = std::f32::consts::FRAC_1_SQRT_2;
        assert!((f(5) + half_turn).abs() < 1e-3 && (f(7) - half_turn).abs() < 1e-3, "{:?}", head.args);
        assert_eq!(sender.counts(), (1, 0));
    }

    #[test]
    fn without_visemes_the_vowels_come_from_the_mouths_shape() {
        let open = vowels(&MotionParams { jaw_open: 1.0, ..Default::default() });
        assert_eq!(open, [1.0, 0.0, 0.0, 0.0, 0.0], "an open, plain mouth is A");
        let round = vowels(&MotionParams { jaw_open: 0.5, lip_round: 1.0, ..Default::default() });
        assert!(round[4] > round[0] && round[2] > 0.0, "a round, half-open mouth leans to O and U: {round:?}");
    }
}

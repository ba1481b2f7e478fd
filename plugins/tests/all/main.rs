//! Integration tests of `edgeplug-plugins`: the packer, the signed plugins the build makes,
//! and the sensor plugins (KWS, anomaly, image) against a native composition of the same
//! front ends and TFLM's recorded results.
mod anomaly;
mod bad_input;
mod common;
mod image;
mod kws;
mod pack;
mod signed;

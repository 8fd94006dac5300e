//! Mesh–mesh distance against analytic cases and against parry3d (f64) on random meshes.

use parry3d_f64::math::{Pose, Rotation, Vector};
use parry3d_f64::shape::TriMesh as PTriMesh;
use twinloom_biw::distance::{mesh_distance, penetration_depth, Collider};
use twinloom_biw::math::{Iso3, Mat3, Quat, Vec3};
use twinloom_biw::mesh::TriMesh;
use twinloom_biw::synth::{blob, triangle_soup, Rng};

fn to_parry(m: &TriMesh) -> PTriMesh {
    let v = m.vertices.iter().map(|p| Vector::new(p.x, p.y, p.z)).collect();
    PTriMesh::new(v, m.triangles.clone()).expect("parry trimesh")
}

fn to_parry_pose(p: &Iso3) -> Pose {
    let q = Quat::from_mat3(&p.rot);
    Pose::from_parts(Vector::new(p.trans.x, p.trans.y, p.trans.z), Rotation::from_xyzw(q.x, q.y, q.z, q.w).normalize())
}

fn dist(a: &TriMesh, pa: Iso3, b: &TriMesh, pb: Iso3) -> twinloom_biw::Distance {
    mesh_distance(&Collider::new(a.clone()), &pa, &Collider::new(b.clone()), &pb).expect("non-empty")
}

#[test]
fn spheres_along_poles_are_exact() {
    let s = TriMesh::uv_sphere(0.3, 16, 24);
    for d in [0.65, 0.8, 1.7] {
        let r = dist(&s, Iso3::IDENTITY, &s, Iso3::translation(Vec3::new(0.0, 0.0, d)));
        assert!((r.distance - (d - 0.6)).abs() < 1e-12, "d={d}: {}", r.distance);
        assert!(!r.intersect);
        assert!((r.point_a - Vec3::new(0.0, 0.0, 0.3)).norm() < 1e-12);
        assert!((r.point_b - Vec3::new(0.0, 0.0, d - 0.3)).norm() < 1e-12);
    }
}

#[test]
fn spheres_in_any_direction_within_tessellation_tolerance() {
    let (r, rings, segs) = (0.25, 20, 40);
    let s = TriMesh::uv_sphere(r, rings, segs);
    // An inscribed mesh lies between the sphere and a sphere of radius r cos(alpha), with alpha the
    // largest angular half-size of a facet.
    let alpha = (std::f64::consts::PI / rings as f64).hypot(std::f64::consts::PI / segs as f64);
    let tol = r * (1.0 - alpha.cos());
    let mut rng = Rng::new(7);
    for _ in 0..20 {
        let d = rng.range(0.6, 1.5);
        let dir = rng.unit_vec();
        let got = dist(&s, Iso3::IDENTITY, &s, Iso3::translation(dir * d)).distance;
        let exact = d - 2.0 * r;
        assert!(got >= exact - 1e-12 && got <= exact + 2.0 * tol, "exact {exact} got {got} tol {tol}");
    }
}

#[test]
fn boxes_exact_including_rotation() {
    let a = TriMesh::cuboid(Vec3::new(0.5, 0.5, 0.5));
    let r = dist(&a, Iso3::IDENTITY, &a, Iso3::translation(Vec3::new(3.0, 0.2, 0.1)));
    assert!((r.distance - 2.0).abs() < 1e-12);
    let rot = Iso3::new(Mat3::rot_z(std::f64::consts::FRAC_PI_4), Vec3::new(2.0, 0.0, 0.0));
    let r = dist(&a, Iso3::IDENTITY, &a, rot);
    assert!((r.distance - (2.0 - 0.5 - 0.5 * 2f64.sqrt())).abs() < 1e-12, "{}", r.distance);
    assert!((r.point_b - Vec3::new(2.0 - 0.5 * 2f64.sqrt(), 0.0, r.point_b.z)).norm() < 1e-12);
}

#[test]
fn capsules_exact_on_vertex_columns() {
    let (rad, half) = (0.1, 0.4);
    let c = TriMesh::capsule(rad, half, 8, 16);
    let b = TriMesh::cuboid(Vec3::new(0.5, 0.5, 0.5));
    let r = dist(&c, Iso3::IDENTITY, &b, Iso3::translation(Vec3::new(1.0, 0.0, 0.0)));
    assert!((r.distance - (1.0 - 0.5 - rad)).abs() < 1e-12, "{}", r.distance);
    // Crossed capsules: one along z, one along x, offset in y.
    let crossed = Iso3::new(Mat3::rot_y(std::f64::consts::FRAC_PI_2), Vec3::new(0.0, 0.5, 0.0));
    let r = dist(&c, Iso3::IDENTITY, &c, crossed);
    assert!((r.distance - (0.5 - 2.0 * rad)).abs() < 1e-12, "{}", r.distance);
}

#[test]
fn overlap_detected_and_penetration_estimated() {
    let a = TriMesh::cuboid(Vec3::new(0.5, 0.5, 0.5));
    let b = TriMesh::cuboid(Vec3::new(0.2, 0.2, 0.2));
    let (ca, cb) = (Collider::new(a), Collider::new(b));
    let pb = Iso3::translation(Vec3::new(0.6, 0.0, 0.0));
    let r = mesh_distance(&ca, &Iso3::IDENTITY, &cb, &pb).unwrap();
    assert!(r.intersect);
    assert_eq!(r.distance, 0.0);
    let depth = penetration_depth(&ca, &Iso3::IDENTITY, &cb, &pb);
    assert!((depth - 0.1).abs() < 1e-12, "{depth}");
}

#[test]
fn agrees_with_parry_on_random_blobs() {
    let mut rng = Rng::new(42);
    let mut separated = 0;
    for case in 0..40 {
        let a = blob(&mut rng, 0.3, 0.15, 800 + 50 * case);
        let b = blob(&mut rng, 0.2, 0.25, 500 + 30 * case);
        let pa = rng.pose(0.3);
        let pb = rng.pose(0.6);
        let ours = dist(&a, pa, &b, pb);
        let theirs =
            parry3d_f64::query::distance(&to_parry_pose(&pa), &to_parry(&a), &to_parry_pose(&pb), &to_parry(&b))
                .expect("supported")
                .distance;
        assert!((ours.distance - theirs).abs() < 1e-6, "case {case}: ours {} parry {theirs}", ours.distance);
        assert!(((ours.point_a - ours.point_b).norm() - ours.distance).abs() < 1e-9);
        if theirs > 0.0 {
            separated += 1;
        }
    }
    assert!(separated > 5 && separated < 40, "want both separated and intersecting cases, got {separated} separated");
}

#[test]
fn agrees_with_parry_on_triangle_soups() {
    let mut rng = Rng::new(3);
    for case in 0..40 {
        let a = triangle_soup(&mut rng, 300, 0.5, 0.2);
        let b = triangle_soup(&mut rng, 200, 0.4, 0.3);
        let pa = rng.pose(0.5);
        let pb = rng.pose(1.5);
        let ours = dist(&a, pa, &b, pb);
        let theirs =
            parry3d_f64::query::distance(&to_parry_pose(&pa), &to_parry(&a), &to_parry_pose(&pb), &to_parry(&b))
                .expect("supported")
                .distance;
        assert!((ours.distance - theirs).abs() < 1e-6, "case {case}: ours {} parry {theirs}", ours.distance);
    }
}

#[test]
fn loads_every_format_from_files() {
    use twinloom_biw::io::{load_mesh, to_binary_stl, to_gltf_embedded, to_obj};
    let dir = std::env::temp_dir().join(format!("twinloom-biw-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cube = TriMesh::cuboid(Vec3::new(0.5, 0.5, 0.5));
    std::fs::write(dir.join("a.stl"), to_binary_stl(&cube)).unwrap();
    std::fs::write(dir.join("b.obj"), to_obj(&cube.transformed(&Iso3::translation(Vec3::new(3.0, 0.0, 0.0))))).unwrap();
    std::fs::write(dir.join("c.gltf"), to_gltf_embedded(&cube, Vec3::new(0.0, 0.0, -2.5))).unwrap();
    let a = Collider::new(load_mesh(&dir.join("a.stl")).unwrap());
    let b = Collider::new(load_mesh(&dir.join("b.obj")).unwrap());
    let c = Collider::new(load_mesh(&dir.join("c.gltf")).unwrap());
    let id = Iso3::IDENTITY;
    assert!((mesh_distance(&a, &id, &b, &id).unwrap().distance - 2.0).abs() < 1e-12);
    assert!((mesh_distance(&a, &id, &c, &id).unwrap().distance - 1.5).abs() < 1e-12);
    let err = load_mesh(&dir.join("missing.stl")).unwrap_err();
    assert!(err.to_string().contains("missing.stl"));
    std::fs::write(dir.join("x.ply"), b"ply").unwrap();
    assert!(load_mesh(&dir.join("x.ply")).unwrap_err().to_string().contains("unsupported mesh format"));
    std::fs::remove_dir_all(&dir).unwrap();
}

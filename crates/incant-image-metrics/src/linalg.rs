//! The little dense linear algebra FID and KID need, on faer.
//!
//! faer's self-adjoint eigendecomposition (tridiagonalisation plus divide and conquer) and its
//! blocked matrix products are what make a 2,048-dimensional FID take seconds instead of
//! the minute scipy's Schur-based `sqrtm` needs. Everything here is `f64`.

use faer::linalg::solvers::SelfAdjointEigen;
use faer::{Accum, Mat, MatRef, Side};

use crate::error::{MetricsError, Result};

/// A square row-major slice as a faer matrix (a copy; faer matrices are column-major).
pub(crate) fn square(values: &[f64], dims: usize) -> Mat<f64> {
    MatRef::from_row_major_slice(values, dims, dims).to_owned()
}

/// `alpha * lhs * rhs` on faer's global parallelism.
pub(crate) fn product(lhs: MatRef<'_, f64>, rhs: MatRef<'_, f64>, alpha: f64) -> Mat<f64> {
    let mut out = Mat::<f64>::zeros(lhs.nrows(), rhs.ncols());
    faer::linalg::matmul::matmul(
        out.as_mut(),
        Accum::Replace,
        lhs,
        rhs,
        alpha,
        faer::get_global_parallelism(),
    );
    out
}

/// Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix; only its lower
/// triangle is read. `what` names the matrix in the error.
pub(crate) fn symmetric_eigen(
    m: MatRef<'_, f64>,
    what: &'static str,
) -> Result<(Vec<f64>, Mat<f64>)> {
    let evd = SelfAdjointEigen::new(m, Side::Lower).map_err(|_| MetricsError::Eigen { what })?;
    let values = evd.S().column_vector().iter().copied().collect();
    Ok((values, evd.U().to_owned()))
}

/// Eigenvalues (ascending) of a symmetric matrix, without eigenvectors.
pub(crate) fn symmetric_eigenvalues(m: MatRef<'_, f64>, what: &'static str) -> Result<Vec<f64>> {
    m.self_adjoint_eigenvalues(Side::Lower)
        .map_err(|_| MetricsError::Eigen { what })
}

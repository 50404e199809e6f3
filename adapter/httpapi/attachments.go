package httpapi

import (
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/adapter/problem"
)

// AttachmentLimits bound the files a request carries: the parts of a
// multipart/related submission and the body of PUT /v1/attachments/{sha256}.
// Zero means no limit.
type AttachmentLimits struct {
	MaxFileBytes  int64
	MaxTotalBytes int64
	MaxParts      int
}

// storeFullRetryAfter is the Retry-After, in seconds, of
// attachment-store-full: files expire over the retention, not at once.
const storeFullRetryAfter = 300

// attachmentRoute is PUT /v1/attachments/{sha256}.
const attachmentRoute = "/v1/attachments/:sha256"

// partOverhead bounds the bytes of one part's boundary and header lines,
// for the limit on a whole multipart/related body.
const partOverhead = 16 << 10

// routesAttachments serves the upload of a file before the dossier that
// lists it, to the portal's callers.
func (s *server) routesAttachments(e *echo.Echo, auth echo.MiddlewareFunc) {
	e.PUT(attachmentRoute, s.putAttachment, auth, s.capUploads)
}

// putAttachment stores the body under the SHA-256 of the path: 201 when it
// is new, 200 when it was there already (the retention renewed); 422
// attachment-mismatch when the body does not hash to the path.
func (s *server) putAttachment(c echo.Context) error {
	sum := c.Param("sha256")
	if !attachment.ValidSum(sum) {
		return problem.New(problem.NotFound, "An attachment is named by the lower-case hex SHA-256 of its bytes (64 digits).").
			VI("Tệp đính kèm được gọi bằng mã băm SHA-256 của nó (64 chữ số hệ 16 viết thường).")
	}
	limit := s.Attachments.MaxFileBytes
	if limit <= 0 {
		limit = s.MaxBodyBytes
	}
	data, err := readUpload(c.Request(), c.Response(), limit)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.Is(err, errBusy) {
			return busyProblem()
		}
		if errors.As(err, &mbe) {
			return problem.New(problem.BodyTooLarge, "The file exceeds the configured per-file limit (attachments.maxFileBytes).").
				VI("Tệp vượt quá dung lượng cho phép của một tệp (attachments.maxFileBytes).")
		}
		return problem.Wrap(problem.MalformedBody, err, "The body could not be read.")
	}
	created, err := s.Intake.Attachments().Put(c.Request().Context(), sum, data)
	switch {
	case errors.Is(err, attachment.ErrMismatch):
		got := attachment.Sum(data)
		e := problem.New(problem.AttachmentMismatch, "The body does not hash to the SHA-256 of the path.").
			VI("Nội dung tệp không có mã băm SHA-256 như trong đường dẫn.")
		e.Fields = []problem.FieldError{{Path: "", Message: "the body's SHA-256 is " + got + ", not " + sum}}
		return e
	case errors.Is(err, attachment.ErrTooLarge):
		return problem.New(problem.BodyTooLarge, "The file exceeds the configured per-file limit (attachments.maxFileBytes).")
	case errors.Is(err, attachment.ErrFull):
		return &problem.Error{Kind: problem.AttachmentStoreFull, Cause: err, RetryAfter: storeFullRetryAfter}
	case err != nil:
		return &problem.Error{Kind: problem.StoreUnavailable, Cause: err, RetryAfter: 5}
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, map[string]any{"sha256": sum, "kichThuoc": len(data), "created": created})
}

// readUpload reads an upload's body, at most limit bytes: into one buffer
// of its declared length when it has one within the limit (net/http reads
// no further), instead of io.ReadAll's doublings, which hold up to twice a
// large file while it is read.
func readUpload(r *http.Request, w http.ResponseWriter, limit int64) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	n := r.ContentLength
	if n < 0 || n > limit {
		return io.ReadAll(body) // unknown length, or over the limit: MaxBytesReader says which
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(body, data); err != nil {
		return nil, err // a body shorter than its Content-Length: net/http's io.ErrUnexpectedEOF
	}
	return data, nil
}

// readRelated reads a multipart/related submission: the signed dossier
// first, then the files, each part within its limit.
func (s *server) readRelated(c echo.Context) (attachment.Part, []attachment.Part, error) {
	a := s.Attachments
	total := s.MaxBodyBytes + a.MaxTotalBytes + int64(a.MaxParts+1)*partOverhead
	if s.MaxBodyBytes <= 0 || a.MaxTotalBytes <= 0 {
		total = 0
	}
	var body io.Reader = c.Request().Body
	if total > 0 {
		body = http.MaxBytesReader(c.Response(), c.Request().Body, total)
	}
	root, files, err := attachment.ReadRelated(body, c.Request().Header.Get("Content-Type"), attachment.PartLimits{
		MaxParts: a.MaxParts, MaxRootBytes: s.MaxBodyBytes, MaxFileBytes: a.MaxFileBytes, MaxTotalBytes: a.MaxTotalBytes})
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return root, files, nil
	case errors.Is(err, errBusy):
		return root, nil, busyProblem()
	case errors.As(err, &mbe), errors.Is(err, attachment.ErrRootTooLarge):
		return root, nil, problem.Wrap(problem.BodyTooLarge, err, "The body exceeds the configured limit.")
	case errors.Is(err, attachment.ErrTooLarge):
		return root, nil, problem.Wrap(problem.BodyTooLarge, err, "A file exceeds the configured per-file limit (attachments.maxFileBytes).").
			VI("Một tệp vượt quá dung lượng cho phép của một tệp (attachments.maxFileBytes).")
	case errors.Is(err, attachment.ErrTotalTooLarge):
		return root, nil, problem.Wrap(problem.BodyTooLarge, err, "The files together exceed the configured limit (attachments.maxTotalBytes).").
			VI("Tổng dung lượng các tệp vượt quá giới hạn cho phép (attachments.maxTotalBytes).")
	case errors.Is(err, attachment.ErrTooManyParts):
		return root, nil, problem.Wrap(problem.LimitExceeded, err, "The request carries more files than the configured limit (attachments.maxParts).").
			VI("Yêu cầu có nhiều tệp hơn giới hạn cho phép (attachments.maxParts).")
	}
	return root, nil, problem.Wrap(problem.MalformedBody, err, "The multipart/related body is malformed: "+err.Error())
}

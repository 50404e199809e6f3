package problem

import "golang.org/x/text/language"

// Lang is the language a problem is written in: English unless the caller
// asks for Vietnamese (the portal shows problems to Vietnamese units).
type Lang string

// The languages problems are written in.
const (
	English    Lang = "en"
	Vietnamese Lang = "vi"
)

var langMatcher = language.NewMatcher([]language.Tag{language.English, language.Vietnamese})

// ParseLang picks the language of an Accept-Language header: Vietnamese
// when the caller prefers it to English, English otherwise (also for an
// empty or malformed header).
func ParseLang(acceptLanguage string) Lang {
	if acceptLanguage == "" {
		return English
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return English
	}
	_, i, conf := langMatcher.Match(tags...)
	if i == 1 && conf != language.No {
		return Vietnamese
	}
	return English
}

// vi gives each kind its Vietnamese title and detail. The detail is the
// fixed one for kinds whose detail never varies, and a general one for the
// others when the raiser gave no Vietnamese detail of its own (DetailVI).
var vi = map[Kind]struct{ title, detail string }{
	MalformedBody:         {"Nội dung yêu cầu không hợp lệ", "Nội dung gửi lên không phải là một tài liệu XML hoặc một giá trị JSON hợp lệ, mã hóa UTF-8."},
	DoctypeForbidden:      {"Không chấp nhận khai báo DOCTYPE và thực thể", "Tài liệu có khai báo DOCTYPE hoặc khai báo thực thể."},
	LimitExceeded:         {"Tài liệu vượt quá giới hạn cấu trúc", "Tài liệu vượt quá giới hạn về độ sâu, số phần tử, số thuộc tính, khai báo không gian tên hoặc số chữ ký."},
	BodyTooLarge:          {"Nội dung yêu cầu quá lớn", "Nội dung gửi lên vượt quá dung lượng cho phép."},
	SignatureMissing:      {"Thiếu chữ ký số", "Hồ sơ không có chữ ký số (XML-DSig trong tài liệu XML, hoặc tiêu đề X-JWS-Signature với JSON)."},
	AlgorithmNotAllowed:   {"Thuật toán chữ ký không được chấp nhận", "Chữ ký dùng thuật toán ký, thuật toán băm hoặc phép chuẩn hóa ngoài danh sách cho phép."},
	CertificateUntrusted:  {"Chứng thư số của người ký không được tin cậy", "Chứng thư số của người ký không thuộc chuỗi của một tổ chức cung cấp dịch vụ chứng thực chữ ký số được tin cậy."},
	CertificateExpired:    {"Chứng thư số không còn hiệu lực tại thời điểm tiếp nhận", "Chứng thư số của người ký, hoặc một chứng thư trong chuỗi, đã hết hạn hoặc chưa có hiệu lực."},
	CertificateRevoked:    {"Chứng thư số đã bị thu hồi", "Chứng thư số của người ký đã bị tổ chức phát hành thu hồi."},
	SignerNotRegistered:   {"Người ký chưa đăng ký với đơn vị", "Chứng thư số của người ký chưa được đăng ký mẫu chữ ký cho đơn vị sử dụng ngân sách này với vai trò đã ký."},
	SignerRoleMissing:     {"Thiếu chữ ký theo yêu cầu của thủ tục", "Hồ sơ thiếu chữ ký của chủ tài khoản hoặc kế toán trưởng mà thủ tục yêu cầu."},
	SignatureInvalid:      {"Chữ ký số không hợp lệ", "Chữ ký số không khớp với nội dung tài liệu."},
	Unauthorized:          {"Chưa xác thực bên gọi", "Cần thông tin xác thực hợp lệ của bên gọi."},
	UnknownProcedure:      {"Thủ tục không tồn tại", "Mã thủ tục trong đường dẫn không thuộc các thủ tục được cấu hình."},
	NotFound:              {"Không tìm thấy", "Không tìm thấy hồ sơ hoặc tài nguyên được yêu cầu."},
	UnsupportedMediaType:  {"Kiểu nội dung không được hỗ trợ", "Gửi application/xml (XML có chữ ký XML-DSig) hoặc application/json (kèm X-JWS-Signature)."},
	MethodNotAllowed:      {"Phương thức không được phép", "Đường dẫn này không hỗ trợ phương thức HTTP đã dùng."},
	SchemaViolation:       {"Hồ sơ không đúng định nghĩa của thủ tục", "Hồ sơ không khớp với định nghĩa của thủ tục; danh sách errors nêu từng trường lỗi."},
	BusinessRuleViolation: {"Hồ sơ vi phạm quy tắc nghiệp vụ của thủ tục", "Hồ sơ không thỏa mãn quy tắc nghiệp vụ của thủ tục (số học, số tiền bằng chữ, niên độ); danh sách rules nêu từng quy tắc bị vi phạm và các trường liên quan."},
	TreasuryRefused:       {"Kho bạc từ chối chứng từ", "Kho bạc Nhà nước từ chối chứng từ; treasuryReasonCode nêu lý do."},
	TreasuryUnavailable:   {"Kho bạc tạm thời không phản hồi", "Không kết nối được hệ thống Kho bạc; vui lòng gửi lại sau với cùng Idempotency-Key."},
	TreasuryTimeout:       {"Kho bạc phản hồi quá thời gian", "Hệ thống Kho bạc không trả lời kịp thời; vui lòng gửi lại sau với cùng Idempotency-Key."},
	InvalidIdempotencyKey: {"Idempotency-Key không hợp lệ", "Tiêu đề Idempotency-Key phải gồm từ 1 đến 255 ký tự ASCII in được."},
	InvalidQuery:          {"Tham số truy vấn không hợp lệ", "Một tham số truy vấn không được hỗ trợ, bị lặp, sai định dạng, hoặc con trỏ phân trang không hợp lệ."},
	IdempotencyKeyReused:  {"Idempotency-Key đã được dùng cho yêu cầu khác", "Idempotency-Key này đã được dùng với nội dung khác; hãy dùng khóa mới cho yêu cầu mới."},
	RequestInProgress:     {"Yêu cầu với Idempotency-Key này đang được xử lý", "Yêu cầu đầu tiên với Idempotency-Key này vẫn đang được xử lý; vui lòng thử lại sau thời gian chỉ định."},
	DossierAlreadySent:    {"Hồ sơ đã được gửi", "Hồ sơ này đã được gửi, hoặc đang được gửi, tới Kho bạc với một Idempotency-Key khác."},
	SupplementUnexpected:  {"Hồ sơ bổ sung không đúng yêu cầu", "Hồ sơ không ở trạng thái chờ bổ sung (5), hoặc số lần bổ sung không phải lần kế tiếp."},
	UnitNotAllowed:        {"Đơn vị không được phép", "Bên gọi không được gửi hoặc rút hồ sơ của đơn vị sử dụng ngân sách (maDVQHNS) này."},
	DossierWithdrawn:      {"Hồ sơ đã được rút", "Kho bạc đã chấp nhận yêu cầu rút hồ sơ này; hồ sơ không nhận thêm hồ sơ bổ sung."},
	StoreUnavailable:      {"Hệ thống tạm thời chưa thể ghi nhận yêu cầu", "Hệ thống chưa thể ghi nhận yêu cầu một cách an toàn nên chưa gửi gì đi; vui lòng gửi lại sau với cùng Idempotency-Key."},
	AttachmentMissing:     {"Thiếu tệp đính kèm", "Hồ sơ liệt kê tệp đính kèm (dinhKem) không có trong yêu cầu và chưa được tải lên; errors nêu từng tệp thiếu."},
	AttachmentMismatch:    {"Tệp đính kèm không khớp với hồ sơ", "Tệp gửi kèm có mã băm SHA-256 hoặc kích thước khác với tệp hồ sơ đã ký liệt kê; errors nêu từng tệp."},
	AuditUnavailable:      {"Nhật ký chứng cứ tạm thời không ghi được", "Hệ thống chưa thể ghi yêu cầu vào nhật ký chứng cứ nên chưa gửi gì đi; vui lòng gửi lại sau với cùng Idempotency-Key."},
	AttachmentStoreFull:   {"Kho tệp đính kèm đã đầy", "Hệ thống đang giữ số tệp tải lên tối đa cho phép (attachments.maxStoredBytes); vui lòng thử lại khi các tệp cũ hết hạn, hoặc gửi tệp cùng hồ sơ."},
	ServerBusy:            {"Hệ thống đang bận xử lý các yêu cầu lớn", "Hệ thống đang xử lý số yêu cầu hoặc tệp lớn tối đa cho phép cùng lúc, hoặc số tài liệu XML ký số tối đa được kiểm tra theo cách chậm (khai báo namespace dưới phần tử gốc, các chữ ký chuẩn hóa khác nhau) (limits.largeBodyConcurrency, limits.uploadConcurrency); chưa gửi đi hay lưu giữ gì. Vui lòng gửi lại sau thời gian chỉ định."},
	RevocationUnavailable: {"Chưa xác minh được tình trạng thu hồi chứng thư số", "Chưa xác định được chứng thư số của người ký có bị thu hồi hay không (máy chủ OCSP và danh sách thu hồi CRL đều không trả lời) nên chưa gửi gì đi; vui lòng gửi lại sau với cùng Idempotency-Key."},
	Internal:              {"Lỗi hệ thống", "Đã xảy ra lỗi nội bộ; lỗi đã được ghi lại theo mã yêu cầu này."},
}

// titleIn is the kind's title in lang.
func (k Kind) titleIn(lang Lang) string {
	if lang == Vietnamese {
		if v, ok := vi[k]; ok {
			return v.title
		}
	}
	return k.Title()
}

// detailIn is what the caller is told in lang: the kind's fixed detail, else
// the raiser's, else the kind's general one (the title, in English).
func (e *Error) detailIn(lang Lang) string {
	if lang != Vietnamese {
		return e.detail()
	}
	v, ok := vi[e.Kind]
	switch {
	case e.Kind.Detail() != "" && ok:
		return v.detail
	case e.DetailVI != "":
		return e.DetailVI
	case ok:
		return v.detail
	}
	return e.detail()
}

package fixturegen

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// files says which of the listed attachments a case carries, and how.
type files int

const (
	noFiles   files = iota
	asParts         // parts/: sent with the dossier as multipart/related
	asUploads       // uploads/: uploaded to PUT /v1/attachments/{sha256} first
	// partsButFirstAltered: parts/, the first file's bytes changed under its
	// listed SHA-256 (the attachment-mismatch case).
	partsButFirstAltered
)

// neverSent is the SHA-256 the attachment-missing case lists in place of its
// first file: the hash of bytes no fixture sends or uploads.
var neverSent = func() string {
	h := sha256.Sum256([]byte("tệp đính kèm không bao giờ được gửi (fixture)"))
	return hex.EncodeToString(h[:])
}()

// missingFirst lists neverSent as the first attachment.
func missingFirst(procedureSpec) *valueEdit {
	return &valueEdit{Path: "dinhKem/sha256", Value: neverSent}
}

// attachment is one file a template lists, with its bytes.
type attachment struct {
	name, sum string
	data      []byte
}

// loadAttachments reads the files the procedure's JSON template lists
// (dinhKem[]) from dir (testdata/attachments/<procedure>), checking each
// against its listed hash and size.
func loadAttachments(template []byte, dir string) ([]attachment, error) {
	var d struct {
		DinhKem []struct {
			TenTep    string `json:"tenTep"`
			KichThuoc int    `json:"kichThuoc"`
			SHA256    string `json:"sha256"`
		} `json:"dinhKem"`
	}
	if err := json.Unmarshal(template, &d); err != nil {
		return nil, fmt.Errorf("dossier.json: %w", err)
	}
	var out []attachment
	for i, f := range d.DinhKem {
		data, err := os.ReadFile(filepath.Join(dir, f.TenTep))
		if err != nil {
			return nil, fmt.Errorf("dinhKem[%d]: %w", i, err)
		}
		h := sha256.Sum256(data)
		if sum := hex.EncodeToString(h[:]); sum != f.SHA256 || len(data) != f.KichThuoc {
			return nil, fmt.Errorf("dinhKem[%d] %s: the file is %d bytes with SHA-256 %s; the template lists %d bytes, %s",
				i, f.TenTep, len(data), sum, f.KichThuoc, f.SHA256)
		}
		out = append(out, attachment{name: f.TenTep, sum: f.SHA256, data: data})
	}
	return out, nil
}

// writeFiles writes the case's files into its folder: parts/<sha256>.<ext>
// or uploads/<sha256>.<ext> (adapter/testkit/fixture reads them back).
func writeFiles(dir string, mode files, list []attachment) error {
	if mode == noFiles || len(list) == 0 {
		return nil
	}
	sub := "parts"
	if mode == asUploads {
		sub = "uploads"
	}
	if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
		return err
	}
	for i, a := range list {
		data := a.data
		if mode == partsButFirstAltered && i == 0 {
			data = append([]byte(nil), data...)
			data[len(data)/2] ^= 0x20 // one byte changed, same size
		}
		if err := os.WriteFile(filepath.Join(dir, sub, a.sum+filepath.Ext(a.name)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

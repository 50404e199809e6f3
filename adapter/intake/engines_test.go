package intake

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"

	"github.com/kbnn/dvc/adapter/xmlsig"
)

// Every attack also runs on the reference (goxmldsig) engine, which stays
// selectable for one release: the table below is every TestAttack… test
// (TestAttackTableIsComplete checks it), each run with the reference
// engine in place of the default fast one.
var attackTests = map[string]func(*testing.T){
	"TestAttackControl_ValidFixturesAcceptedAndFormsAgree":         TestAttackControl_ValidFixturesAcceptedAndFormsAgree,
	"TestAttackControl_EtreeRoundTripStillVerifies":                TestAttackControl_EtreeRoundTripStillVerifies,
	"TestAttackXSW_SignedRootMovedIntoObject":                      TestAttackXSW_SignedRootMovedIntoObject,
	"TestAttackXSW_SignedRootMovedIntoExtraSignature":              TestAttackXSW_SignedRootMovedIntoExtraSignature,
	"TestAttackXSW_SignedRootMovedIntoKeyInfo":                     TestAttackXSW_SignedRootMovedIntoKeyInfo,
	"TestAttackXSW_ForgedRootSameIdWrapsSignedRoot":                TestAttackXSW_ForgedRootSameIdWrapsSignedRoot,
	"TestAttackXSW_ForgedRootSameIdSignaturesOnTopOriginalNested":  TestAttackXSW_ForgedRootSameIdSignaturesOnTopOriginalNested,
	"TestAttackXSW_ReferenceToNestedElementWithSameId":             TestAttackXSW_ReferenceToNestedElementWithSameId,
	"TestAttackXSW_DuplicateIdAttributes":                          TestAttackXSW_DuplicateIdAttributes,
	"TestAttackXSW_IdInOtherNamespacePrefix":                       TestAttackXSW_IdInOtherNamespacePrefix,
	"TestAttackXSW_SecondRootLevelElement":                         TestAttackXSW_SecondRootLevelElement,
	"TestAttackSig_OuterSignatureMovedUnderChild":                  TestAttackSig_OuterSignatureMovedUnderChild,
	"TestAttackSig_AllSignaturesMovedUnderChild":                   TestAttackSig_AllSignaturesMovedUnderChild,
	"TestAttackSig_SignedDossierNestedAsChild":                     TestAttackSig_SignedDossierNestedAsChild,
	"TestAttackSig_ThirdSignatureByUntrustedSigner":                TestAttackSig_ThirdSignatureByUntrustedSigner,
	"TestAttackSig_ThirdSignatureByExpiredOrRevokedSigner":         TestAttackSig_ThirdSignatureByExpiredOrRevokedSigner,
	"TestAttackSig_ThirdSignatureByValidOtherSignerChangesNothing": TestAttackSig_ThirdSignatureByValidOtherSignerChangesNothing,
	"TestAttackSig_SameSignerTwice":                                TestAttackSig_SameSignerTwice,
	"TestAttackSig_OuterSignatureStripped":                         TestAttackSig_OuterSignatureStripped,
	"TestAttackSig_InnerSignatureStripped":                         TestAttackSig_InnerSignatureStripped,
	"TestAttackSig_AllSignaturesStripped":                          TestAttackSig_AllSignaturesStripped,
	"TestAttackSig_SignaturesReordered":                            TestAttackSig_SignaturesReordered,
	"TestAttackSig_OuterSignatureDuplicated":                       TestAttackSig_OuterSignatureDuplicated,
	"TestAttackSig_ChiefSignatureGraftedOntoHolderOnlyDossier":     TestAttackSig_ChiefSignatureGraftedOntoHolderOnlyDossier,
	"TestAttackKeyInfo_CertificateSwappedForOtherTrustedSigner":    TestAttackKeyInfo_CertificateSwappedForOtherTrustedSigner,
	"TestAttackKeyInfo_CertificateSwappedForUnacceptableOne":       TestAttackKeyInfo_CertificateSwappedForUnacceptableOne,
	"TestAttackKeyInfo_ExtraElementsAreIgnored":                    TestAttackKeyInfo_ExtraElementsAreIgnored,
	"TestAttackKeyInfo_Malformed":                                  TestAttackKeyInfo_Malformed,
	"TestAttackKeyInfo_ForeignNamespaceCertificate":                TestAttackKeyInfo_ForeignNamespaceCertificate,
	"TestAttackSignedInfo_Alterations":                             TestAttackSignedInfo_Alterations,
	"TestAttackSignedInfo_UnsignedPartsOfOuterSignature":           TestAttackSignedInfo_UnsignedPartsOfOuterSignature,
	"TestAttackSignedInfo_HugeSignatureValue":                      TestAttackSignedInfo_HugeSignatureValue,
	"TestAttackSignedInfo_Base64LineBreaks":                        TestAttackSignedInfo_Base64LineBreaks,
	"TestAttackParse_DoctypeEntity":                                TestAttackParse_DoctypeEntity,
	"TestAttackParse_DeclarationsInsideRoot":                       TestAttackParse_DeclarationsInsideRoot,
	"TestAttackParse_UndeclaredEntityReference":                    TestAttackParse_UndeclaredEntityReference,
	"TestAttackParse_CommentInsideSignedText":                      TestAttackParse_CommentInsideSignedText,
	"TestAttackParse_CommentWithCommentsC14N":                      TestAttackParse_CommentWithCommentsC14N,
	"TestAttackParse_SignedCommentInsideValueWithComments":         TestAttackParse_SignedCommentInsideValueWithComments,
	"TestAttackParse_CDATAAndCharacterReferences":                  TestAttackParse_CDATAAndCharacterReferences,
	"TestAttackParse_ProcessingInstructions":                       TestAttackParse_ProcessingInstructions,
	"TestAttackParse_NamespacesAndXMLAttributes":                   TestAttackParse_NamespacesAndXMLAttributes,
	"TestAttackParse_RootRenamed":                                  TestAttackParse_RootRenamed,
	"TestAttackParse_Prefixes":                                     TestAttackParse_Prefixes,
	"TestAttackParse_Encodings":                                    TestAttackParse_Encodings,
	"TestAttackParse_TrailingData":                                 TestAttackParse_TrailingData,
	"TestAttackLimits_Depth":                                       TestAttackLimits_Depth,
	"TestAttackLimits_Width":                                       TestAttackLimits_Width,
	"TestAttackLimits_ManyElementsInKeyInfo":                       TestAttackLimits_ManyElementsInKeyInfo,
	"TestAttackLimits_TooManySignatures":                           TestAttackLimits_TooManySignatures,
	"TestAttackJSON_SameSignatureTwice":                            TestAttackJSON_SameSignatureTwice,
	"TestAttackJSON_ChiefSignatureDropped":                         TestAttackJSON_ChiefSignatureDropped,
	"TestAttackJSON_SignaturesOverDifferentBody":                   TestAttackJSON_SignaturesOverDifferentBody,
	"TestAttackJSON_DuplicateKeys":                                 TestAttackJSON_DuplicateKeys,
	"TestAttackJSON_TrailingBytes":                                 TestAttackJSON_TrailingBytes,
	"TestAttackJSON_AlgorithmConfusion":                            TestAttackJSON_AlgorithmConfusion,
	"TestAttackJSON_B64FalseAndCrit":                               TestAttackJSON_B64FalseAndCrit,
	"TestAttackJSON_AttackerKey":                                   TestAttackJSON_AttackerKey,
	"TestAttackJSON_HeaderFraming":                                 TestAttackJSON_HeaderFraming,
	"TestAttackJSON_SignedNumberForms":                             TestAttackJSON_SignedNumberForms,
	"TestAttackContentType":                                        TestAttackContentType,
	"TestAttackReplay_CrossProcedure":                              TestAttackReplay_CrossProcedure,
	"TestAttackReplay_HolderOnlyForMoneyProcedure":                 TestAttackReplay_HolderOnlyForMoneyProcedure,
	"TestAttackReplay_SameDossierSameDownstreamKey":                TestAttackReplay_SameDossierSameDownstreamKey,
	"TestAttackReplay_SameDossierUnderAnotherIdempotencyKey":       TestAttackReplay_SameDossierUnderAnotherIdempotencyKey,
	"TestAttackReplay_XMLThenJSONFormOfSameDossier":                TestAttackReplay_XMLThenJSONFormOfSameDossier,
	"TestAttackReplay_AfterRetentionSameDownstreamKey":             TestAttackReplay_AfterRetentionSameDownstreamKey,
	"TestAttackLimits_NamespaceDeclarationAmplification":           TestAttackLimits_NamespaceDeclarationAmplification,
	"TestAttackParse_SignedProcessingInstructionInsideValue":       TestAttackParse_SignedProcessingInstructionInsideValue,
	"TestAttackJSON_SignedInvalidUTF8":                             TestAttackJSON_SignedInvalidUTF8,
}

func TestAttacksOnReferenceEngine(t *testing.T) {
	xmlEngine = xmlsig.EngineReference
	defer func() { xmlEngine = "" }()
	for name, f := range attackTests {
		t.Run(name, f)
	}
}

func TestAttackTableIsComplete(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "attack_test.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || !strings.HasPrefix(fn.Name.Name, "TestAttack") {
			continue
		}
		n++
		if attackTests[fn.Name.Name] == nil {
			t.Errorf("%s is missing from attackTests", fn.Name.Name)
		}
	}
	if n != len(attackTests) {
		t.Errorf("attack_test.go has %d attack tests, the table %d", n, len(attackTests))
	}
}

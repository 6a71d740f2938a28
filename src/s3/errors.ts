// The one table of S3 errors: code -> HTTP status and default message. Handlers throw `new S3Error(code)`;
// src/s3/respond.ts renders it once as XML. Codes and statuses follow
// https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList

import { EdgeError } from "../protocol/errors.ts";

const S3_ERRORS = {
  AccessControlListNotSupported: [400, "The bucket does not allow ACLs"],
  AccessDenied: [403, "Access Denied"],
  AccessForbidden: [403, "CORSResponse: This CORS request is not allowed."],
  AuthorizationHeaderMalformed: [400, "The authorization header you provided is invalid."],
  AuthorizationQueryParametersError: [400, "Error parsing the X-Amz-Credential parameter."],
  BadDigest: [400, "The Content-MD5 or checksum value that you specified did not match what the server received."],
  BucketAlreadyExists: [409, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."],
  BucketAlreadyOwnedByYou: [409, "Your previous request to create the named bucket succeeded and you already own it."],
  BucketNotEmpty: [409, "The bucket you tried to delete is not empty"],
  EntityTooLarge: [400, "Your proposed upload exceeds the maximum allowed size"],
  EntityTooSmall: [400, "Your proposed upload is smaller than the minimum allowed object size."],
  IncompleteBody: [400, "You did not provide the number of bytes specified by the Content-Length HTTP header."],
  InternalError: [500, "We encountered an internal error. Please try again."],
  InvalidAccessKeyId: [403, "The AWS Access Key Id you provided does not exist in our records."],
  InvalidArgument: [400, "Invalid Argument"],
  InvalidBucketName: [400, "The specified bucket is not valid."],
  InvalidBucketState: [409, "The request is not valid with the current state of the bucket."],
  InvalidEncryptionAlgorithmError: [400, "The encryption request you specified is not valid. The valid value is AES256."],
  InvalidDigest: [400, "The Content-MD5 you specified was invalid."],
  InvalidPart: [400, "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag."],
  InvalidPartNumber: [416, "The requested partnumber is not satisfiable"],
  InvalidPartOrder: [400, "The list of parts was not in ascending order. Parts must be ordered by part number."],
  InvalidLocationConstraint: [400, "The specified location-constraint is not valid."],
  InvalidStorageClass: [400, "The storage class you specified is not valid"],
  InvalidTag: [400, "The tag provided was not a valid tag."],
  InvalidURI: [400, "Couldn't parse the specified URI."],
  InvalidRange: [416, "The requested range is not satisfiable"],
  InvalidRequest: [400, "Invalid Request"],
  // SSE-KMS: S3 passes on the KMS error when a key cannot be used (unknown, disabled, pending deletion).
  "KMS.NotFoundException": [400, "Invalid keyId"],
  "KMS.DisabledException": [400, "The KMS key is disabled."],
  "KMS.KMSInvalidStateException": [400, "The KMS key is pending deletion."],
  KeyTooLongError: [400, "Your key is too long"],
  MalformedACLError: [400, "The XML you provided was not well-formed or did not validate against our published schema."],
  MalformedPolicy: [400, "Policies must be valid JSON and the first byte must be '{'"],
  MalformedPOSTRequest: [400, "The body of your POST request is not well-formed multipart/form-data."],
  InvalidPolicyDocument: [400, "The content of the form does not meet the conditions specified in the policy document."],
  MalformedXML: [400, "The XML you provided was not well-formed or did not validate against our published schema."],
  MaxMessageLengthExceeded: [400, "Your request was too big."],
  MetadataTooLarge: [400, "Your metadata headers exceed the maximum allowed metadata size."],
  MethodNotAllowed: [405, "The specified method is not allowed against this resource."],
  MissingContentLength: [411, "You must provide the Content-Length HTTP header."],
  MissingSecurityHeader: [400, "Your request is missing a required header."],
  NoSuchBucket: [404, "The specified bucket does not exist"],
  NoSuchPublicAccessBlockConfiguration: [404, "The public access block configuration was not found"],
  NoSuchBucketPolicy: [404, "The bucket policy does not exist"],
  NoSuchKey: [404, "The specified key does not exist."],
  NoSuchCORSConfiguration: [404, "The CORS configuration does not exist"],
  NoSuchObjectLockConfiguration: [404, "The specified object does not have a ObjectLock configuration"],
  ObjectLockConfigurationNotFoundError: [404, "Object Lock configuration does not exist for this bucket"],
  NoSuchLifecycleConfiguration: [404, "The lifecycle configuration does not exist"],
  NoSuchTagSet: [404, "The TagSet does not exist"],
  NoSuchVersion: [404, "The specified version does not exist."],
  NoSuchUpload: [404, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."],
  OwnershipControlsNotFoundError: [404, "The bucket ownership controls were not found"],
  UnexpectedContent: [400, "This request does not support content"],
  UnresolvableGrantByEmailAddress: [400, "The email address you provided does not match any account on record."],
  NotImplemented: [501, "A header you provided implies functionality that is not implemented."],
  ConditionalRequestConflict: [409, "A conflicting conditional operation is currently in progress against this resource. Please try again."],
  PreconditionFailed: [412, "At least one of the pre-conditions you specified did not hold"],
  RequestTimeTooSkewed: [403, "The difference between the request time and the current time is too large."],
  ServiceUnavailable: [503, "Please reduce your request rate."],
  SignatureDoesNotMatch: [403, "The request signature we calculated does not match the signature you provided. Check your key and signing method."],
  SlowDown: [503, "Please reduce your request rate."],
  XAmzContentSHA256Mismatch: [400, "The provided 'x-amz-content-sha256' header does not match what was computed."],
} as const satisfies Record<string, readonly [number, string]>;

export type S3ErrorCode = keyof typeof S3_ERRORS;

/** `details` are the extra XML elements S3 includes for this error (e.g. BucketName, Key, CanonicalRequest). */
export class S3Error extends EdgeError<S3ErrorCode, Record<string, string>> {
  readonly status: number;
  constructor(code: S3ErrorCode, message?: string, fields: Record<string, string> = {}) {
    super(code, message ?? S3_ERRORS[code][1], fields);
    this.name = "S3Error";
    this.status = S3_ERRORS[code][0];
  }

  /** The extra XML elements: the same object as `details`. */
  get fields(): Record<string, string> {
    return this.details;
  }
}

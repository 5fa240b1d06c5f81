// Generated from postbacks.attempts.AttemptRecord (make generated): do not edit.
// The filterable columns of the log page, with the API's names (design §6).

export const COLUMNS = [
  { key: "status", label: "Status", values: ["Success", "Failed"] },
  { key: "postback_name", label: "Postback Name" },
  { key: "postback_type", label: "Postback Type", values: ["Click", "Conversion", "Event"] },
  { key: "offer_id", label: "Offer ID", numeric: true },
  { key: "publisher_id", label: "Publisher ID", numeric: true },
  { key: "event_id", label: "Event ID" },
  { key: "transaction_id", label: "Transaction ID" },
  { key: "response_code", label: "Response Code", numeric: true, values: ["0", "200", "302", "400", "404", "500", "502", "503"] },
  { key: "url", label: "URL" },
  { key: "error", label: "Error" },
  { key: "server_response", label: "Server Response" },
];

export const BY_KEY = new Map(COLUMNS.map((column) => [column.key, column]));

export const OPERATORS = [
  { key: "is", label: "is", suffix: "" },
  { key: "is_not", label: "is not", suffix: "__is_not" },
  { key: "contains", label: "contains", suffix: "__contains" },
];

// What a response code means for the person fixing the postback (design section 5).

export function codeMeaning(code) {
  if (code === 0) return "No HTTP response: the publisher's server was unreachable or timed out (the error says which).";
  if (code >= 200 && code < 300) return "Success: the publisher's server accepted the postback.";
  if (code >= 300 && code < 400) return "Redirect, not followed: postbacks do not follow redirects; use the target URL (the error names it).";
  if (code >= 400 && code < 500) return "The publisher's server rejected the request: check the URL parameters.";
  if (code >= 500 && code < 600) return "The publisher's server failed: contact the publisher.";
  return "Not a standard HTTP status: the publisher's server answered something unusual.";
}

//! The template's HTTP APIs (its `AWS::Serverless::HttpApi` resources and SAM's implicit
//! `ServerlessHttpApi`) with their authorizers, and each `HttpApi` event's route and who may call it.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

use super::globals::Globals;
use super::{invalid, TemplateError};
use crate::intrinsics::Intrinsic;

/// The logical id SAM gives the API it creates for `HttpApi` events without `ApiId`.
pub const IMPLICIT_HTTP_API: &str = "ServerlessHttpApi";

/// What kind of authorizer an entry of `Auth.Authorizers` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizerKind {
    /// Has a `JwtConfiguration`: the local stack checks the bearer token, its `iss` and `aud`.
    Jwt(JwtAuthorizer),
    /// Has a `FunctionArn`: the local stack invokes the function as API Gateway does.
    Lambda(LambdaAuthorizer),
    /// Anything else; the local stack cannot run it.
    Other,
}

/// A JWT authorizer's `JwtConfiguration` as written (each value a string or an intrinsic such as
/// `!Ref JwtIssuer`), resolved when the stack starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwtAuthorizer {
    /// `issuer`: the `iss` a token must carry.
    pub issuer: Option<Value>,
    /// `audience`: a token's `aud` (or, without `aud`, its `client_id`) must be one of them.
    pub audience: Vec<Value>,
}

impl JwtAuthorizer {
    fn parse(configuration: &Value) -> Result<Self, String> {
        let issuer = match configuration.get("issuer") {
            None | Some(Value::Null) => None,
            Some(value) => Some(value.clone()),
        };
        let audience = match configuration.get("audience") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Sequence(values)) => values.clone(),
            Some(_) => return Err("JwtConfiguration.audience must be a list".into()),
        };
        Ok(Self { issuer, audience })
    }
}

/// A Lambda authorizer (`FunctionArn`) with payload format 2.0 and simple responses, the only
/// kind of Lambda authorizer the local stack runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaAuthorizer {
    /// Logical id of the authorizer's function (`FunctionArn: !GetAtt <Function>.Arn`).
    pub function: String,
    /// `Identity.Headers`, lower-case: the identity sources. A request without one of them is
    /// answered 401 without invoking the function.
    pub identity_headers: Vec<String>,
    /// `Identity.ReauthorizeEvery` as written (a number or a `!Ref` to a parameter), resolved
    /// when the stack starts; `None` when absent (no caching).
    pub reauthorize_every: Option<Value>,
}

impl LambdaAuthorizer {
    fn parse(definition: &Value) -> Result<Self, String> {
        let function = match definition.get("FunctionArn").map(Intrinsic::parse) {
            Some(Some(Ok(Intrinsic::GetAtt {
                resource,
                attribute,
            }))) if attribute == "Arn" => resource,
            _ => {
                return Err(
                    "FunctionArn must be !GetAtt <Function>.Arn of a function of this template"
                        .into(),
                )
            }
        };
        let version = match definition.get("AuthorizerPayloadFormatVersion") {
            Some(Value::String(version)) => version.clone(),
            Some(Value::Number(version)) => format!("{version:.1}"),
            _ => String::new(),
        };
        if version != "2.0" {
            return Err(format!(
                "AuthorizerPayloadFormatVersion {version:?}: the local stack runs Lambda authorizers of payload format 2.0 only"
            ));
        }
        if definition
            .get("EnableSimpleResponses")
            .and_then(Value::as_bool)
            != Some(true)
        {
            return Err(
                "the local stack runs Lambda authorizers with EnableSimpleResponses: true only (no IAM policies)"
                    .into(),
            );
        }
        let identity = definition.get("Identity");
        for unsupported in ["QueryStrings", "Context", "StageVariables"] {
            if identity.and_then(|i| i.get(unsupported)).is_some() {
                return Err(format!(
                    "Identity.{unsupported}: the local stack takes identity sources from Headers only"
                ));
            }
        }
        let identity_headers = match identity.and_then(|i| i.get("Headers")) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Sequence(headers)) => headers
                .iter()
                .map(|h| {
                    h.as_str()
                        .map(str::to_ascii_lowercase)
                        .ok_or_else(|| "Identity.Headers must be header names".to_string())
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("Identity.Headers must be a list".into()),
        };
        let reauthorize_every = match identity.and_then(|i| i.get("ReauthorizeEvery")) {
            None | Some(Value::Null) => None,
            Some(value) => Some(value.clone()),
        };
        Ok(Self {
            function,
            identity_headers,
            reauthorize_every,
        })
    }
}

/// An HTTP API, its properties merged with `Globals.HttpApi`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpApi {
    pub logical_id: String,
    /// SAM's implicit API, made of `Globals.HttpApi` alone.
    pub implicit: bool,
    /// `Auth.DefaultAuthorizer`: what a route without its own `Auth.Authorizer` requires.
    pub default_authorizer: Option<String>,
    /// `Auth.Authorizers` by name.
    pub authorizers: BTreeMap<String, AuthorizerKind>,
}

impl HttpApi {
    fn parse(
        logical_id: &str,
        implicit: bool,
        properties: &Mapping,
    ) -> Result<Self, TemplateError> {
        let context = |message: String| invalid(format!("HTTP API {logical_id}: {message}"));
        let auth = properties.get("Auth");
        let mut authorizers = BTreeMap::new();
        match auth.and_then(|a| a.get("Authorizers")) {
            None | Some(Value::Null) => {}
            Some(Value::Mapping(entries)) => {
                for (name, definition) in entries {
                    let name = name
                        .as_str()
                        .ok_or_else(|| context("an authorizer name is not a string".into()))?;
                    let kind = if let Some(configuration) = definition.get("JwtConfiguration") {
                        AuthorizerKind::Jwt(
                            JwtAuthorizer::parse(configuration)
                                .map_err(|e| context(format!("authorizer {name}: {e}")))?,
                        )
                    } else if definition.get("FunctionArn").is_some() {
                        AuthorizerKind::Lambda(
                            LambdaAuthorizer::parse(definition)
                                .map_err(|e| context(format!("authorizer {name}: {e}")))?,
                        )
                    } else {
                        AuthorizerKind::Other
                    };
                    authorizers.insert(name.to_string(), kind);
                }
            }
            Some(_) => return Err(context("Auth.Authorizers is not a mapping".into())),
        }
        let default_authorizer = match auth.and_then(|a| a.get("DefaultAuthorizer")) {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) if authorizers.contains_key(name) => Some(name.clone()),
            Some(Value::String(name)) => {
                return Err(context(format!(
                    "Auth.DefaultAuthorizer {name} is not one of Auth.Authorizers"
                )))
            }
            Some(_) => return Err(context("Auth.DefaultAuthorizer is not a name".into())),
        };
        Ok(Self {
            logical_id: logical_id.to_string(),
            implicit,
            default_authorizer,
            authorizers,
        })
    }

    /// Who may call a route of this API whose event says `Auth.Authorizer: event_authorizer`.
    pub fn route_auth(&self, event_authorizer: Option<&str>) -> Result<RouteAuth, String> {
        let name = match (event_authorizer, self.default_authorizer.as_deref()) {
            (Some("NONE"), _) | (None, None) => return Ok(RouteAuth::Public),
            (Some(name), _) | (None, Some(name)) => name,
        };
        match self.authorizers.get(name) {
            Some(AuthorizerKind::Jwt(_)) => Ok(RouteAuth::Jwt {
                authorizer: name.to_string(),
            }),
            Some(AuthorizerKind::Lambda(_)) => Ok(RouteAuth::Lambda {
                authorizer: name.to_string(),
            }),
            Some(AuthorizerKind::Other) => Err(format!(
                "authorizer {name} of {} is neither a JWT nor a Lambda authorizer, the kinds the local stack runs",
                self.logical_id
            )),
            None => Err(format!(
                "{} has no authorizer {name} in Auth.Authorizers",
                self.logical_id
            )),
        }
    }
}

/// Who may call an HTTP route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteAuth {
    /// `Auth.Authorizer: NONE`, or an API without a default authorizer.
    Public,
    /// The JWT authorizer (the API's default, or the one the event names).
    Jwt { authorizer: String },
    /// A Lambda authorizer of the route's API, by name.
    Lambda { authorizer: String },
}

/// An `HttpApi` event of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpEvent {
    pub name: String,
    /// Logical id of the API the route belongs to ([`IMPLICIT_HTTP_API`] without `ApiId`).
    pub api: String,
    /// Upper-case method, or `ANY`.
    pub method: String,
    /// The route's path template (`/providers/{id}`), or `$default`.
    pub path: String,
    pub auth: RouteAuth,
}

/// Every API a route may name: the explicit ones, and the implicit one as Globals make it.
#[derive(Debug, Clone)]
pub(super) struct ApiCatalog {
    explicit: BTreeMap<String, HttpApi>,
    implicit: HttpApi,
}

impl ApiCatalog {
    pub(super) fn new(resources: &Mapping, globals: &Globals) -> Result<Self, TemplateError> {
        let mut explicit = BTreeMap::new();
        for (key, resource) in resources {
            if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::HttpApi") {
                continue;
            }
            let logical_id = key
                .as_str()
                .ok_or_else(|| invalid("a resource's logical id is not a string"))?;
            let properties = globals
                .http_api(resource.get("Properties"))
                .map_err(|e| invalid(format!("HTTP API {logical_id}: {e}")))?;
            explicit.insert(
                logical_id.to_string(),
                HttpApi::parse(logical_id, false, &properties)?,
            );
        }
        let implicit = HttpApi::parse(IMPLICIT_HTTP_API, true, &globals.http_api(None)?)?;
        Ok(Self { explicit, implicit })
    }

    /// The APIs the events use: every explicit API, and the implicit one if a route is on it.
    pub(super) fn into_apis<'a>(
        self,
        events: impl IntoIterator<Item = &'a HttpEvent>,
    ) -> Vec<HttpApi> {
        let implicit_used = events.into_iter().any(|e| e.api == IMPLICIT_HTTP_API);
        let mut apis: Vec<HttpApi> = self.explicit.into_values().collect();
        if implicit_used {
            apis.push(self.implicit);
        }
        apis
    }

    /// Reads an `HttpApi` event: its API, method, path and authorization.
    pub(super) fn http_event(
        &self,
        function: &str,
        name: String,
        properties: Option<&Value>,
    ) -> Result<HttpEvent, TemplateError> {
        let context =
            |message: String| invalid(format!("function {function} event {name}: {message}"));
        let text = |key: &str| properties.and_then(|p| p.get(key)).and_then(Value::as_str);
        let (method, path) = match (text("Method"), text("Path")) {
            (Some(method), Some(path)) => {
                let method = method.to_ascii_uppercase();
                // SAM writes the catch-all method as `ANY`; some templates use `*`.
                let method = if method == "*" {
                    "ANY".to_string()
                } else {
                    method
                };
                (method, path.to_string())
            }
            // SAM maps an HttpApi event without Method and Path to the API's `$default` route.
            (None, None) => ("ANY".to_string(), "$default".to_string()),
            _ => {
                return Err(context(
                    "an HttpApi event needs both Method and Path".into(),
                ))
            }
        };
        let api = match properties.and_then(|p| p.get("ApiId")) {
            None | Some(Value::Null) => &self.implicit,
            Some(api_id) => match Intrinsic::parse(api_id) {
                Some(Ok(Intrinsic::Ref(id))) => self.explicit.get(&id).ok_or_else(|| {
                    context(format!(
                        "ApiId refers to {id}, which is not an AWS::Serverless::HttpApi of this template"
                    ))
                })?,
                _ => {
                    return Err(context(
                        "ApiId must be a !Ref to an AWS::Serverless::HttpApi".into(),
                    ))
                }
            },
        };
        let event_authorizer = match properties
            .and_then(|p| p.get("Auth"))
            .and_then(|a| a.get("Authorizer"))
        {
            None | Some(Value::Null) => None,
            Some(Value::String(authorizer)) => Some(authorizer.as_str()),
            Some(_) => return Err(context("Auth.Authorizer is not a name".into())),
        };
        let auth = api.route_auth(event_authorizer).map_err(context)?;
        Ok(HttpEvent {
            name,
            api: api.logical_id.clone(),
            method,
            path,
            auth,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        match serde_yaml::from_str(text) {
            Ok(value) => value,
            Err(error) => panic!("{error}: {text}"),
        }
    }

    /// A catalog of the `Resources` and `Globals` of `template`.
    fn catalog_of(template: &str) -> Result<ApiCatalog, TemplateError> {
        let raw = yaml(template);
        let resources = raw
            .get("Resources")
            .and_then(Value::as_mapping)
            .cloned()
            .unwrap_or_default();
        ApiCatalog::new(&resources, &Globals::parse(&raw)?)
    }

    const TEMPLATE: &str = "
Globals:
  HttpApi:
    Auth:
      DefaultAuthorizer: Jwt
      Authorizers:
        Jwt: { IdentitySource: $request.header.Authorization, JwtConfiguration: { issuer: i } }
        Other: { JwtConfiguration: { issuer: o } }
        Lambda:
          FunctionArn: !GetAtt AuthFunction.Arn
          AuthorizerPayloadFormatVersion: '2.0'
          EnableSimpleResponses: true
          Identity: { Headers: [Authorization, X-Key], ReauthorizeEvery: !Ref Ttl }
        Unknown: { Type: Something }
Resources:
  Open:
    Type: AWS::Serverless::HttpApi
    Properties: { Auth: { DefaultAuthorizer: Other } }
  Plain:
    Type: AWS::Serverless::HttpApi
  Table:
    Type: AWS::DynamoDB::Table
";

    fn event(catalog: &ApiCatalog, properties: &str) -> Result<HttpEvent, TemplateError> {
        catalog.http_event("F", "E".into(), Some(&yaml(properties)))
    }

    fn route(catalog: &ApiCatalog, properties: &str) -> (String, String, String, RouteAuth) {
        match event(catalog, properties) {
            Ok(e) => (e.api, e.method, e.path, e.auth),
            Err(error) => panic!("{error}"),
        }
    }

    fn jwt(name: &str) -> RouteAuth {
        RouteAuth::Jwt {
            authorizer: name.into(),
        }
    }

    #[test]
    fn routes_without_api_id_are_the_implicit_apis_with_its_default_authorizer() {
        let catalog = catalog_of(TEMPLATE).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            route(&catalog, "{ Method: get, Path: '/things/{id}' }"),
            (
                IMPLICIT_HTTP_API.into(),
                "GET".into(),
                "/things/{id}".into(),
                jwt("Jwt")
            )
        );
        assert_eq!(
            route(
                &catalog,
                "{ Method: GET, Path: /page, Auth: { Authorizer: NONE } }"
            )
            .3,
            RouteAuth::Public
        );
        assert_eq!(
            route(
                &catalog,
                "{ Method: '*', Path: /x, Auth: { Authorizer: Other } }"
            ),
            (
                IMPLICIT_HTTP_API.into(),
                "ANY".into(),
                "/x".into(),
                jwt("Other")
            )
        );
        assert_eq!(
            route(&catalog, "{}"),
            (
                IMPLICIT_HTTP_API.into(),
                "ANY".into(),
                "$default".into(),
                jwt("Jwt")
            )
        );
    }

    #[test]
    fn jwt_authorizers_keep_their_issuer_and_audience() {
        let catalog = catalog_of(
            "
Globals:
  HttpApi:
    Auth:
      Authorizers:
        Jwt: { JwtConfiguration: { issuer: !Ref Issuer, audience: [a, !Ref Audience] } }
        Bare: { JwtConfiguration: {} }
        Bad: { JwtConfiguration: { audience: a } }
",
        );
        let error = catalog.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("audience must be a list"), "{error}");
        let catalog = catalog_of(
            "
Globals:
  HttpApi:
    Auth:
      Authorizers:
        Jwt: { JwtConfiguration: { issuer: !Ref Issuer, audience: [a, !Ref Audience] } }
        Bare: { JwtConfiguration: {} }
",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let api = &catalog.implicit;
        assert_eq!(
            api.authorizers.get("Jwt"),
            Some(&AuthorizerKind::Jwt(JwtAuthorizer {
                issuer: Some(yaml("!Ref Issuer")),
                audience: vec![yaml("a"), yaml("!Ref Audience")],
            }))
        );
        assert_eq!(
            api.authorizers.get("Bare"),
            Some(&AuthorizerKind::Jwt(JwtAuthorizer::default()))
        );
    }

    #[test]
    fn explicit_apis_take_globals_under_their_own_settings() {
        let catalog = catalog_of(TEMPLATE).unwrap_or_else(|e| panic!("{e}"));
        // Its own DefaultAuthorizer wins; the Authorizers come from Globals.
        assert_eq!(
            route(&catalog, "{ ApiId: !Ref Open, Method: POST, Path: /a }"),
            ("Open".into(), "POST".into(), "/a".into(), jwt("Other"))
        );
        assert_eq!(
            route(
                &catalog,
                "{ ApiId: { Ref: Plain }, Method: POST, Path: /a }"
            )
            .3,
            jwt("Jwt")
        );
    }

    #[test]
    fn an_api_without_default_authorizer_is_public() {
        let catalog = catalog_of("Resources: { Api: { Type: AWS::Serverless::HttpApi } }")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            route(&catalog, "{ Method: GET, Path: /a }").3,
            RouteAuth::Public
        );
        assert_eq!(
            route(&catalog, "{ ApiId: !Ref Api, Method: GET, Path: /a }").3,
            RouteAuth::Public
        );
    }

    #[test]
    fn refuses_what_sam_or_the_local_stack_cannot_serve() {
        let catalog = catalog_of(TEMPLATE).unwrap_or_else(|e| panic!("{e}"));
        for (properties, expected) in [
            ("{ Method: GET }", "both Method and Path"),
            (
                "{ ApiId: !Ref Table, Method: GET, Path: /a }",
                "not an AWS::Serverless::HttpApi",
            ),
            (
                "{ ApiId: !Ref Nope, Method: GET, Path: /a }",
                "not an AWS::Serverless::HttpApi",
            ),
            ("{ ApiId: Open, Method: GET, Path: /a }", "must be a !Ref"),
            (
                "{ Method: GET, Path: /a, Auth: { Authorizer: Missing } }",
                "no authorizer Missing",
            ),
            (
                "{ Method: GET, Path: /a, Auth: { Authorizer: Unknown } }",
                "neither a JWT nor a Lambda authorizer",
            ),
        ] {
            let error = event(&catalog, properties).err().map(|e| e.to_string());
            assert!(
                error.as_deref().is_some_and(|e| e.contains(expected)),
                "{properties}: {error:?}"
            );
        }
        let undefined_default = "Globals: { HttpApi: { Auth: { DefaultAuthorizer: Jwt } } }";
        let error = catalog_of(undefined_default).err().map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("not one of Auth.Authorizers")),
            "{error:?}"
        );
    }

    #[test]
    fn reads_lambda_authorizers() {
        let catalog = catalog_of(TEMPLATE).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            route(
                &catalog,
                "{ Method: GET, Path: /p, Auth: { Authorizer: Lambda } }"
            )
            .3,
            RouteAuth::Lambda {
                authorizer: "Lambda".into()
            }
        );
        assert_eq!(
            catalog.implicit.authorizers.get("Lambda"),
            Some(&AuthorizerKind::Lambda(LambdaAuthorizer {
                function: "AuthFunction".into(),
                identity_headers: vec!["authorization".into(), "x-key".into()],
                reauthorize_every: Some(yaml("!Ref Ttl")),
            }))
        );
        // A literal TTL, and no Identity at all.
        let literal = yaml(
            "{ FunctionArn: { 'Fn::GetAtt': [F, Arn] }, AuthorizerPayloadFormatVersion: 2.0, EnableSimpleResponses: true, Identity: { Headers: [A], ReauthorizeEvery: 30 } }",
        );
        let parsed = LambdaAuthorizer::parse(&literal).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.reauthorize_every, Some(Value::from(30)));
        let bare = yaml("{ FunctionArn: !GetAtt F.Arn, AuthorizerPayloadFormatVersion: '2.0', EnableSimpleResponses: true }");
        let parsed = LambdaAuthorizer::parse(&bare).unwrap_or_else(|e| panic!("{e}"));
        assert!(parsed.identity_headers.is_empty() && parsed.reauthorize_every.is_none());
    }

    #[test]
    fn refuses_lambda_authorizers_the_local_stack_cannot_run() {
        for (definition, expected) in [
            ("{ FunctionArn: arn:aws:lambda:x, AuthorizerPayloadFormatVersion: '2.0', EnableSimpleResponses: true }", "FunctionArn"),
            ("{ FunctionArn: !GetAtt F.Arn, AuthorizerPayloadFormatVersion: '1.0', EnableSimpleResponses: true }", "payload format 2.0"),
            ("{ FunctionArn: !GetAtt F.Arn, AuthorizerPayloadFormatVersion: '2.0' }", "EnableSimpleResponses"),
            ("{ FunctionArn: !GetAtt F.Arn, AuthorizerPayloadFormatVersion: '2.0', EnableSimpleResponses: true, Identity: { QueryStrings: [q] } }", "Headers only"),
        ] {
            let error = LambdaAuthorizer::parse(&yaml(definition)).err();
            assert!(
                error.as_deref().is_some_and(|e| e.contains(expected)),
                "{definition}: {error:?}"
            );
        }
    }

    #[test]
    fn lists_the_implicit_api_only_when_a_route_uses_it() {
        let catalog = catalog_of(TEMPLATE).unwrap_or_else(|e| panic!("{e}"));
        let explicit = event(&catalog, "{ ApiId: !Ref Open, Method: GET, Path: /a }")
            .unwrap_or_else(|e| panic!("{e}"));
        let ids = |apis: Vec<HttpApi>| -> Vec<String> {
            apis.into_iter().map(|a| a.logical_id).collect()
        };
        assert_eq!(
            ids(catalog.clone().into_apis([&explicit])),
            ["Open", "Plain"]
        );
        let implicit =
            event(&catalog, "{ Method: GET, Path: /b }").unwrap_or_else(|e| panic!("{e}"));
        let apis = catalog.into_apis([&explicit, &implicit]);
        assert!(apis
            .iter()
            .any(|a| a.implicit && a.default_authorizer.as_deref() == Some("Jwt")));
        assert_eq!(ids(apis), ["Open", "Plain", IMPLICIT_HTTP_API]);
    }
}

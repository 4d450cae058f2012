import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { GROVE_VERSION } from './version';

/** The OpenAPI document, generated from the controllers and DTOs. */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Grove controller API')
    .setDescription(
      'REST API v1 of the Grove controller, compatible with Orchard’s. Authenticate with HTTP Basic: ' +
        'service-account name and token. Deviations from Orchard are listed in docs/api-compatibility.md.',
    )
    .setVersion(GROVE_VERSION)
    .addBasicAuth()
    .build();
  return SwaggerModule.createDocument(app, config);
}

/** Serves the document at /v1/openapi.json and, when asked, Swagger UI at /v1/docs. */
export function serveOpenApi(app: INestApplication, document: OpenAPIObject, swaggerUi: boolean): void {
  SwaggerModule.setup('v1/docs', app, document, {
    jsonDocumentUrl: 'v1/openapi.json',
    yamlDocumentUrl: 'v1/openapi.yaml',
    swaggerUiEnabled: swaggerUi,
    ui: swaggerUi,
  });
}
